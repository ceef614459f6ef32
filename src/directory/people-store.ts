import type { Kysely, Selectable, Transaction } from 'kysely';
import { lockPersonRow, type PeopleTable, type Schema } from '../storage/index.ts';
import type { NewPerson, Person } from './person.ts';

type PersonRow = Selectable<PeopleTable>;

export type PersonState = 'enabled' | 'disabled';

export interface PeopleQuery {
  search?: string | undefined;
  state?: PersonState | undefined;
  /** The UPN (lower case) of the last row of the previous page. */
  after?: string | undefined;
  limit: number;
}

export function toPerson(
  row: Pick<PersonRow, 'id' | 'user_principal_name' | 'mail' | 'display_name' | 'enabled' | 'role' | 'must_change_password'>,
): Person {
  return {
    id: row.id,
    userPrincipalName: row.user_principal_name,
    mail: row.mail,
    displayName: row.display_name,
    enabled: row.enabled === 1,
    role: row.role,
    mustChangePassword: row.must_change_password === 1,
  };
}

const PERSON_COLUMNS = ['id', 'user_principal_name', 'mail', 'display_name', 'enabled', 'role', 'must_change_password'] as const;

/** The directory's queries; the service above holds the rules. */
export class PeopleStore {
  constructor(private readonly db: Kysely<Schema>) {}

  async insert(person: Required<Omit<NewPerson, 'passwordHash'>> & { id: string; passwordHash: string | null }, now: Date): Promise<void> {
    await this.db
      .insertInto('people')
      .values({
        id: person.id,
        user_principal_name: person.userPrincipalName,
        upn_key: person.userPrincipalName.toLowerCase(),
        mail: person.mail || null,
        mail_key: person.mail ? person.mail.toLowerCase() : null,
        display_name: person.displayName,
        role: person.role,
        enabled: 1,
        password_hash: person.passwordHash,
        must_change_password: person.mustChangePassword ? 1 : 0,
        directory_photo: null,
        created_at: now.toISOString(),
        updated_at: now.toISOString(),
      })
      .execute();
  }

  async update(id: string, changes: { displayName?: string; mail?: string | null; role?: string }, now: Date): Promise<void> {
    await this.db
      .updateTable('people')
      .set({
        ...(changes.displayName !== undefined && { display_name: changes.displayName }),
        ...(changes.mail !== undefined && { mail: changes.mail, mail_key: changes.mail?.toLowerCase() ?? null }),
        ...(changes.role !== undefined && { role: changes.role as Person['role'] }),
        updated_at: now.toISOString(),
      })
      .where('id', '=', id)
      .execute();
  }

  async findById(id: string): Promise<Person | undefined> {
    const row = await this.db.selectFrom('people').select(PERSON_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toPerson(row);
  }

  async findByUpn(upn: string): Promise<Person | undefined> {
    const row = await this.db.selectFrom('people').select(PERSON_COLUMNS).where('upn_key', '=', upn.toLowerCase()).executeTakeFirst();
    return row && toPerson(row);
  }

  async findByMail(mail: string): Promise<Person | undefined> {
    const row = await this.db.selectFrom('people').select(PERSON_COLUMNS).where('mail_key', '=', mail.toLowerCase()).executeTakeFirst();
    return row && toPerson(row);
  }

  async findPasswordHash(personId: string): Promise<string | null> {
    const row = await this.db.selectFrom('people').select('password_hash').where('id', '=', personId).executeTakeFirst();
    return row?.password_hash ?? null;
  }

  async setPasswordHash(personId: string, hash: string, mustChange: boolean, now: Date): Promise<void> {
    await this.db
      .updateTable('people')
      .set({ password_hash: hash, must_change_password: mustChange ? 1 : 0, updated_at: now.toISOString() })
      .where('id', '=', personId)
      .execute();
  }

  async list(options: { limit: number; offset: number }): Promise<Person[]> {
    const rows = await this.db
      .selectFrom('people')
      .select(PERSON_COLUMNS)
      .orderBy('upn_key')
      .limit(options.limit)
      .offset(options.offset)
      .execute();
    return rows.map(toPerson);
  }

  async countAdmins(): Promise<number> {
    const row = await this.db
      .selectFrom('people')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('role', '=', 'admin')
      .where('enabled', '=', 1)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async setEnabled(personId: string, enabled: boolean, now: Date): Promise<void> {
    await this.db
      .updateTable('people')
      .set({ enabled: enabled ? 1 : 0, updated_at: now.toISOString() })
      .where('id', '=', personId)
      .execute();
  }

  /**
   * Deletes the person's row under its row lock (so no photo change or Sites swap is half-way), with
   * `alsoInTransaction` (the audit entry) committing alongside. The foreign keys take the person's
   * photo versions and renditions, Sites profile and thumbnails, sync history, sessions and tokens.
   */
  async delete(personId: string, alsoInTransaction: (trx: Transaction<Schema>) => Promise<void>): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await lockPersonRow(trx, personId);
      const result = await trx.deleteFrom('people').where('id', '=', personId).executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      await alsoInTransaction(trx);
      return true;
    });
  }

  /** Part of a name, UPN or mail address; enabled or disabled only; keyset paging by UPN. */
  async search(query: PeopleQuery): Promise<Person[]> {
    let select = this.db.selectFrom('people').select(PERSON_COLUMNS);
    if (query.search) {
      const pattern = `%${query.search.toLowerCase()}%`;
      select = select.where((eb) =>
        eb.or([eb('upn_key', 'like', pattern), eb('mail_key', 'like', pattern), eb(eb.fn('lower', ['display_name']), 'like', pattern)]),
      );
    }
    if (query.state) select = select.where('enabled', '=', query.state === 'enabled' ? 1 : 0);
    if (query.after) select = select.where('upn_key', '>', query.after);
    const rows = await select.orderBy('upn_key').limit(query.limit).execute();
    return rows.map(toPerson);
  }

  async setDirectoryPhoto(personId: string, bytes: Buffer | null, now: Date): Promise<void> {
    await this.db.updateTable('people').set({ directory_photo: bytes, updated_at: now.toISOString() }).where('id', '=', personId).execute();
  }
}
