import { sql, type Kysely } from 'kysely';
import type { Schema } from '../storage/index.ts';
import { yieldToEventLoop } from '../event-loop.ts';
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

/** People per slice when a bulk path walks everyone (a few milliseconds of SQLite each). */
const SLICE = 2000;

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

  /** In slices of the UPN order, yielding between them: on SQLite one count of 100,000 people would hold the event loop. */
  private async countFresh(): Promise<Record<SyncStateKind, number>> {
    const counts = Object.fromEntries(SYNC_STATE_KINDS.map((kind) => [kind, 0])) as Record<SyncStateKind, number>;
    for await (const range of this.upnRanges()) {
      let query = this.people()
        .select([stateOf.as('state'), (eb) => eb.fn.countAll<number>().as('people')])
        .where('p.upn_key', '>', range.after);
      if (range.last !== undefined) query = query.where('p.upn_key', '<=', range.last);
      for (const row of await query.groupBy(stateOf).execute()) counts[row.state] += Number(row.people);
    }
    return counts;
  }

  /**
   * Consecutive slices of the enabled people in UPN order, `SLICE` each, found with the UPN index
   * alone; the last slice is open-ended. The loop gets a turn between slices.
   */
  private async *upnRanges(): AsyncGenerator<{ after: string; last: string | undefined }> {
    let after = '';
    for (;;) {
      const edge = await this.db
        .selectFrom('people')
        .select('upn_key')
        .where('upn_key', '>', after)
        .orderBy('upn_key')
        .offset(SLICE - 1)
        .limit(1)
        .executeTakeFirst();
      yield { after, last: edge?.upn_key };
      if (!edge) return;
      after = edge.upn_key;
      await yieldToEventLoop();
    }
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
    const rows = await select
      .orderBy('p.upn_key')
      .limit(query.limit ?? 50)
      .execute();
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
   * Enabled people whose Sites copy differs from Mail or was never checked, the never-checked first
   * and then the longest unchecked, at most `limit`. Walked in slices along indexes (people by UPN,
   * Sites profiles by last check), yielding between them: never one query that reads and sorts everyone.
   */
  async listOutOfDate(limit: number, options: { includeFailed?: boolean } = {}): Promise<string[]> {
    const found: string[] = [];
    // Never checked: no Sites profile yet, or one never checked.
    for await (const range of this.upnRanges()) {
      let query = this.people().select('p.id').where('sp.last_checked_at', 'is', null).where('p.upn_key', '>', range.after);
      if (range.last !== undefined) query = query.where('p.upn_key', '<=', range.last);
      found.push(...(await query.execute()).map((row) => row.id));
      if (found.length >= limit) return found.slice(0, limit);
    }
    // Checked before: along the (last_checked_at, person_id) index, oldest first.
    let after: { at: string; id: string } | undefined;
    for (;;) {
      let slice = this.db
        .selectFrom('site_profiles as sp')
        .select(['sp.person_id', 'sp.last_checked_at'])
        .where('sp.last_checked_at', 'is not', null);
      if (after) {
        const { at, id } = after;
        slice = slice.where((eb) =>
          eb.or([eb('sp.last_checked_at', '>', at), eb.and([eb('sp.last_checked_at', '=', at), eb('sp.person_id', '>', id)])]),
        );
      }
      const rows = await slice.orderBy('sp.last_checked_at').orderBy('sp.person_id').limit(SLICE).execute();
      if (rows.length === 0) return found;
      const stale = await this.outOfDateAmong(
        rows.map((r) => r.person_id),
        options,
      );
      found.push(...rows.map((r) => r.person_id).filter((id) => stale.has(id)));
      if (found.length >= limit) return found.slice(0, limit);
      const last = rows.at(-1)!;
      after = { at: last.last_checked_at!, id: last.person_id };
      await yieldToEventLoop();
    }
  }

  /** Which of these people (enabled) have a Sites copy that is behind Mail or never checked. */
  async outOfDateAmong(personIds: readonly string[], options: { includeFailed?: boolean } = {}): Promise<Set<string>> {
    if (personIds.length === 0) return new Set();
    let query = this.people().select('p.id').where('p.id', 'in', personIds);
    if (options.includeFailed === false) query = query.where('sp.last_error', 'is', null);
    const rows = await query
      .where((eb) => eb.or([eb('sp.last_checked_at', 'is', null), eb('sp.synced_etag', 'is distinct from', eb.ref('pv.etag'))]))
      .execute();
    return new Set(rows.map((row) => row.id));
  }

  /** Everyone enabled, in UPN order (a force sync of all), read in slices. */
  async listEnabledPersonIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const range of this.upnRanges()) {
      let query = this.db.selectFrom('people').select('id').where('enabled', '=', 1).where('upn_key', '>', range.after);
      if (range.last !== undefined) query = query.where('upn_key', '<=', range.last);
      ids.push(...(await query.orderBy('upn_key').execute()).map((row) => row.id));
    }
    return ids;
  }
}
