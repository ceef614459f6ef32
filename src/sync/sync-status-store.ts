import { sql, type Kysely } from 'kysely';
import type { Schema } from '../storage/index.ts';
import { SYNC_STATE_KINDS, type SyncState, type SyncStateKind } from './sync-state.ts';

/** One row of the admin's sync status table: the person and the same state the info page shows. */
export interface PersonSyncStatus extends SyncState {
  personId: string;
  userPrincipalName: string;
  displayName: string;
}

export interface SyncStatusQuery {
  /** Part of a name or UPN. */
  search?: string;
  state?: SyncStateKind;
  /** The UPN (lower case) of the last row of the previous page. */
  after?: string;
  limit?: number;
}

/**
 * The same rules as `describeSyncState`, in SQL, so counting and filtering 100,000 people is one
 * query: failed wins; then never checked; then the Mail ETag against the synced one.
 */
const stateOf = sql<SyncStateKind>`case
  when sp.last_error is not null then 'failed'
  when sp.last_checked_at is null then 'never-synced'
  when sp.synced_etag is not distinct from pv.etag then 'in-sync'
  else 'out-of-date' end`;

/** Sync state across everyone: a read model over people, Mail's current versions and Sites' profiles. */
export class SyncStatusStore {
  constructor(private readonly db: Kysely<Schema>) {}

  /** Enabled people only: a disabled account is never synced, so it would count as stale forever. */
  private people() {
    return this.db
      .selectFrom('people as p')
      .leftJoin('photo_versions as pv', (join) => join.onRef('pv.person_id', '=', 'p.id').on('pv.state', '=', 'current'))
      .leftJoin('site_profiles as sp', 'sp.person_id', 'p.id')
      .where('p.enabled', '=', 1);
  }

  private countsCache: { at: number; ttlMs: number; counts: Promise<Record<SyncStateKind, number>> } | undefined;

  /**
   * Counting reads everyone (about 140 ms at 100,000 people), so a count is reused for twenty times
   * as long as it took to make (at most 15 s): small directories always see fresh figures, large
   * ones don't rescan on every page view and scrape.
   */
  countByState(): Promise<Record<SyncStateKind, number>> {
    const now = performance.now();
    if (this.countsCache && now - this.countsCache.at < this.countsCache.ttlMs) return this.countsCache.counts;
    // While the count runs, callers share it.
    const entry = { at: now, ttlMs: Number.POSITIVE_INFINITY, counts: this.countFresh() };
    this.countsCache = entry;
    entry.counts.then(
      () => (entry.ttlMs = Math.min(15_000, 20 * (performance.now() - now))),
      () => (this.countsCache = undefined),
    );
    return entry.counts;
  }

  private async countFresh(): Promise<Record<SyncStateKind, number>> {
    const rows = await this.people().select([stateOf.as('state'), (eb) => eb.fn.countAll<number>().as('people')]).groupBy(stateOf).execute();
    const counts = Object.fromEntries(SYNC_STATE_KINDS.map((kind) => [kind, 0])) as Record<SyncStateKind, number>;
    for (const row of rows) counts[row.state] = Number(row.people);
    return counts;
  }

  /** A page in UPN order; the next page starts after the last row's UPN (no OFFSET scans). */
  async list(query: SyncStatusQuery): Promise<PersonSyncStatus[]> {
    let select = this.people().select([
      'p.id',
      'p.user_principal_name',
      'p.display_name',
      'p.upn_key',
      stateOf.as('state'),
      'pv.etag as mail_etag',
      'sp.synced_etag',
      'sp.last_checked_at',
      'sp.last_synced_at',
      'sp.last_trigger',
      'sp.last_error',
    ]);
    if (query.search) {
      const pattern = `%${query.search.toLowerCase()}%`;
      select = select.where((eb) => eb.or([eb('p.upn_key', 'like', pattern), eb(eb.fn('lower', ['p.display_name']), 'like', pattern)]));
    }
    if (query.state) select = select.where(stateOf, '=', query.state);
    if (query.after) select = select.where('p.upn_key', '>', query.after);
    const rows = await select.orderBy('p.upn_key').limit(query.limit ?? 50).execute();
    return rows.map((row) => ({
      personId: row.id,
      userPrincipalName: row.user_principal_name,
      displayName: row.display_name,
      state: row.state,
      mailEtag: row.mail_etag,
      syncedEtag: row.synced_etag,
      lastCheckedAt: row.last_checked_at,
      lastSyncedAt: row.last_synced_at,
      lastTrigger: row.last_trigger,
      reason: row.last_error,
    }));
  }

  /**
   * Enabled people whose Sites copy differs from Mail or was never checked, the longest unchecked
   * first (never-checked before all others).
   */
  async listOutOfDate(limit: number, options: { includeFailed?: boolean } = {}): Promise<string[]> {
    let query = this.people().select('p.id');
    if (options.includeFailed === false) query = query.where('sp.last_error', 'is', null);
    const rows = await query
      .where((eb) => eb.or([eb('sp.last_checked_at', 'is', null), eb('sp.synced_etag', 'is distinct from', eb.ref('pv.etag'))]))
      .orderBy(sql`sp.last_checked_at is not null`)
      .orderBy('sp.last_checked_at')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  /** Everyone enabled, in UPN order (a force sync of all). */
  async listEnabledPersonIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('people').select('id').where('enabled', '=', 1).orderBy('upn_key').execute();
    return rows.map((row) => row.id);
  }
}
