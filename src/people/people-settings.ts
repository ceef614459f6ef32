import type { Kysely } from 'kysely';
import type { Schema } from '../storage/index.ts';

/** What happens to a person's Mail photo when they are disabled: kept (the default) or removed. */
export const DISABLED_MAIL_PHOTO_CHOICES = ['keep', 'remove'] as const;
export type DisabledMailPhoto = (typeof DISABLED_MAIL_PHOTO_CHOICES)[number];

const DISABLED_MAIL_PHOTO_KEY = 'disabled-person-mail-photo';

/**
 * The admins' people settings, in the `settings` table so every process sees the same value. Read
 * only when someone is disabled or the People page is shown, so there is nothing to cache.
 */
export class PeopleSettingsStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async disabledMailPhoto(): Promise<DisabledMailPhoto> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', DISABLED_MAIL_PHOTO_KEY).executeTakeFirst();
    return row?.value === 'remove' ? 'remove' : 'keep';
  }

  async saveDisabledMailPhoto(value: DisabledMailPhoto, updatedBy: string): Promise<void> {
    const row = { key: DISABLED_MAIL_PHOTO_KEY, value, updated_at: this.now().toISOString(), updated_by: updatedBy };
    await this.db
      .insertInto('settings')
      .values(row)
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: row.updated_at, updated_by: updatedBy }))
      .execute();
  }
}
