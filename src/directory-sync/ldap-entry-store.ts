import type { Kysely } from 'kysely';
import { claimIntervalTurn, type LdapEntriesTable, type LdapEntryState, type Schema } from '../storage/index.ts';

export type LdapEntryRow = LdapEntriesTable;

const LAST_SCHEDULED_KEY = 'ldap.last_scheduled_sync_at';

/** What the LDAP sync remembers of each entry, and its turn in the schedule. */
export class LdapEntryStore {
  constructor(private readonly db: Kysely<Schema>) {}

  async findMany(stableIds: readonly string[]): Promise<Map<string, LdapEntryRow>> {
    const rows = new Map<string, LdapEntryRow>();
    // In slices: SQLite allows a limited number of bound values per statement.
    for (let i = 0; i < stableIds.length; i += 500) {
      const slice = stableIds.slice(i, i + 500);
      for (const row of await this.db.selectFrom('ldap_entries').selectAll().where('stable_id', 'in', slice).execute())
        rows.set(row.stable_id, row);
    }
    return rows;
  }

  findByPerson(personId: string): Promise<LdapEntryRow | undefined> {
    return this.db.selectFrom('ldap_entries').selectAll().where('person_id', '=', personId).executeTakeFirst();
  }

  /** Every remembered entry's id, person and state: the vanished ones are those this sync did not see. */
  listAll(): Promise<Pick<LdapEntryRow, 'stable_id' | 'person_id' | 'state'>[]> {
    return this.db.selectFrom('ldap_entries').select(['stable_id', 'person_id', 'state']).execute();
  }

  /** Stores what was seen; a person follows one entry, so an older entry of theirs is forgotten. */
  async save(row: LdapEntryRow): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('ldap_entries').where('person_id', '=', row.person_id).where('stable_id', '!=', row.stable_id).execute();
      const { stable_id: _, ...rest } = row;
      await trx
        .insertInto('ldap_entries')
        .values(row)
        .onConflict((oc) => oc.column('stable_id').doUpdateSet(rest))
        .execute();
    });
  }

  async setState(stableId: string, state: LdapEntryState, at: Date): Promise<void> {
    await this.db.updateTable('ldap_entries').set({ state, synced_at: at.toISOString() }).where('stable_id', '=', stableId).execute();
  }

  /**
   * The scheduled sync's turn: one compare-and-set in the settings table, so across processes (and
   * a double tick) exactly one sync starts per interval.
   */
  claimScheduledTurn(intervalMs: number, now: Date): Promise<boolean> {
    return claimIntervalTurn(this.db, LAST_SCHEDULED_KEY, { intervalMs, now, by: 'ldap' });
  }
}
