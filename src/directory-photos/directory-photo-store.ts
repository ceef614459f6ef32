import type { Kysely } from 'kysely';
import type { Schema } from '../storage/index.ts';
import type { DirectoryPhotoPolicy, DirectorySource, LastReceived } from './photo-policy.ts';

const policyKey = (source: DirectorySource) => `directory.photo_policy.${source}`;

/** The intake's queries: what each source last sent, and the policies in the shared settings table. */
export class DirectoryPhotoStore {
  constructor(private readonly db: Kysely<Schema>) {}

  async findLastReceived(personId: string, source: DirectorySource): Promise<LastReceived | undefined> {
    const row = await this.db
      .selectFrom('directory_photo_sources')
      .select(['received_etag', 'imported_etag'])
      .where('person_id', '=', personId)
      .where('source', '=', source)
      .executeTakeFirst();
    return row && { receivedEtag: row.received_etag, importedEtag: row.imported_etag };
  }

  /** The sources that have sent anything about this person. */
  async sourcesOf(personId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('directory_photo_sources').select('source').where('person_id', '=', personId).execute();
    return rows.map((row) => row.source);
  }

  async saveReceived(personId: string, source: DirectorySource, received: LastReceived, now: Date): Promise<void> {
    const values = { received_etag: received.receivedEtag, imported_etag: received.importedEtag, received_at: now.toISOString() };
    await this.db
      .insertInto('directory_photo_sources')
      .values({ person_id: personId, source, ...values })
      .onConflict((oc) => oc.columns(['person_id', 'source']).doUpdateSet(values))
      .execute();
  }

  async readPolicies(): Promise<Map<string, string>> {
    const rows = await this.db.selectFrom('settings').select(['key', 'value']).where('key', 'like', 'directory.photo_policy.%').execute();
    return new Map(rows.map((row) => [row.key, row.value]));
  }

  policyKey(source: DirectorySource): string {
    return policyKey(source);
  }

  async savePolicy(source: DirectorySource, policy: DirectoryPhotoPolicy, updatedBy: string, now: Date): Promise<void> {
    const row = { key: policyKey(source), value: policy, updated_at: now.toISOString(), updated_by: updatedBy };
    await this.db
      .insertInto('settings')
      .values(row)
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: policy, updated_at: row.updated_at, updated_by: updatedBy }))
      .execute();
  }
}
