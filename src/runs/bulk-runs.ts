import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { BulkSyncAlreadyRunning, DirectorySyncAlreadyRunning } from '../errors.ts';
import { isUniqueViolation, type BulkRunKind, type BulkRunState, type BulkRunsTable, type Schema } from '../storage/index.ts';

export type { BulkRunKind, BulkRunState };

/** What a progress bar, a server-sent event and a final report show. */
export interface BulkProgress {
  id: string;
  kind: BulkRunKind;
  label: string;
  startedBy: string;
  status: BulkRunState;
  total: number;
  done: number;
  failed: number;
  startedAt: string;
  finishedAt: string | null;
  /** Items per second, up to the end for a finished run (not up to now). */
  ratePerSecond: number;
  /** Seconds left at the current rate; null before the first item or when over. */
  etaSeconds: number | null;
  /** The first failures, with their reasons (all items are in the run's report). */
  failures: { item: string; reason: string }[];
  /** What the run's kind added (an import's counts and CSV problems), as stored. */
  summary: unknown;
}

export interface BulkRunItem {
  item: string;
  outcome: string;
  failed: boolean;
  reason: string | null;
  detail: string | null;
}

export interface StartRun {
  kind: BulkRunKind;
  label: string;
  startedBy: string;
  filter?: string;
  total: number;
}

const FAILURES_SHOWN = 200;

/**
 * Long runs (a force sync of many people, a bulk import) kept in the database: any server process
 * shows a run, follows it and cancels it, and a restart does not lose it. Each item is recorded
 * once (a retried job does not count twice); the item that completes the count finishes the run.
 */
export class BulkRuns {
  private readonly now: () => Date;

  constructor(
    private readonly db: Kysely<Schema>,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Records a new running run; `inTransaction` writes what the run needs (its queued jobs) in the
   * same transaction, so a run never exists without its work. One bulk sync at a time: a second
   * gets BulkSyncAlreadyRunning naming the running one.
   */
  async start(run: StartRun, inTransaction?: (trx: Transaction<Schema>, runId: string) => Promise<void>): Promise<string> {
    const id = randomUUID();
    const at = this.now().toISOString();
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('bulk_runs')
          .values({
            id,
            kind: run.kind,
            label: run.label,
            started_by: run.startedBy,
            filter: run.filter ?? null,
            total: run.total,
            done: 0,
            failed: 0,
            state: run.total === 0 ? 'finished' : 'running',
            started_at: at,
            updated_at: at,
            finished_at: run.total === 0 ? at : null,
            summary: null,
          })
          .execute();
        await inTransaction?.(trx, id);
      });
    } catch (error) {
      if ((run.kind === 'sync' || run.kind === 'directory') && isUniqueViolation(error)) {
        const running = await this.db
          .selectFrom('bulk_runs')
          .select(['id', 'started_by'])
          .where('kind', '=', run.kind)
          .where('state', '=', 'running')
          .executeTakeFirst();
        if (running)
          throw run.kind === 'sync'
            ? new BulkSyncAlreadyRunning(running.id, running.started_by)
            : new DirectorySyncAlreadyRunning(running.id, running.started_by);
      }
      throw error;
    }
    return id;
  }

  /**
   * Items' outcomes, in one transaction. Each item is recorded once: a second report of the same
   * item (a job retried after a crash) changes nothing. The items that make the count whole finish
   * the run. Nothing is recorded for a run that is no longer running (cancelled meanwhile).
   */
  async recordItems(runId: string, items: readonly BulkRunItem[]): Promise<void> {
    if (items.length === 0) return;
    const at = this.now().toISOString();
    await this.db.transaction().execute(async (trx) => {
      // Also the row lock that orders concurrent writers of one run (PostgreSQL).
      const run = await trx
        .updateTable('bulk_runs')
        .set({ updated_at: at })
        .where('id', '=', runId)
        .where('state', '=', 'running')
        .returning(['done'])
        .executeTakeFirst();
      if (!run) return;
      const inserted = await trx
        .insertInto('bulk_run_items')
        .values(
          items.map((item, i) => ({
            run_id: runId,
            item: item.item,
            seq: run.done + i,
            outcome: item.outcome,
            failed: item.failed ? 1 : 0,
            reason: item.reason,
            detail: item.detail,
          })),
        )
        .onConflict((oc) => oc.columns(['run_id', 'item']).doNothing())
        .returning(['failed'])
        .execute();
      if (inserted.length === 0) return;
      const failed = inserted.filter((row) => row.failed === 1).length;
      await trx
        .updateTable('bulk_runs')
        .set((eb) => ({
          done: eb('done', '+', inserted.length),
          failed: eb('failed', '+', failed),
          // The right-hand sides see the row before this update.
          state: sql<BulkRunState>`case when done + ${inserted.length} >= total then 'finished' else 'running' end`,
          finished_at: sql<string | null>`case when done + ${inserted.length} >= total then ${at} else null end`,
        }))
        .where('id', '=', runId)
        .execute();
    });
  }

  recordItem(runId: string, item: BulkRunItem): Promise<void> {
    return this.recordItems(runId, [item]);
  }

  /**
   * Sets the count of items of a run whose size is learnt as it goes (a directory's paged search):
   * kept above the items recorded so far until the end, so the run finishes by `finish`, not early.
   */
  async setTotal(runId: string, total: number): Promise<void> {
    await this.db
      .updateTable('bulk_runs')
      .set({ total, updated_at: this.now().toISOString() })
      .where('id', '=', runId)
      .where('state', '=', 'running')
      .execute();
  }

  /** Ends a run that is worked in one process (an import) with what it adds to the report. */
  async finish(runId: string, summary: unknown): Promise<void> {
    const at = this.now().toISOString();
    await this.db
      .updateTable('bulk_runs')
      .set({
        summary: JSON.stringify(summary),
        finished_at: sql<string>`coalesce(finished_at, ${at})`,
        updated_at: at,
        state: sql<BulkRunState>`case when state = 'running' then 'finished' else state end`,
      })
      .where('id', '=', runId)
      .execute();
  }

  /** Stops a running run: items in progress finish, the rest are left. False when it was not running. */
  async cancel(runId: string): Promise<boolean> {
    const at = this.now().toISOString();
    const result = await this.db
      .updateTable('bulk_runs')
      .set({ state: 'cancelled', finished_at: at, updated_at: at })
      .where('id', '=', runId)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Keeps a run that one process works on from being taken for abandoned. */
  async heartbeat(runId: string): Promise<void> {
    await this.db
      .updateTable('bulk_runs')
      .set({ updated_at: this.now().toISOString() })
      .where('id', '=', runId)
      .where('state', '=', 'running')
      .execute();
  }

  async isRunning(runId: string): Promise<boolean> {
    const row = await this.db.selectFrom('bulk_runs').select('state').where('id', '=', runId).executeTakeFirst();
    return row?.state === 'running';
  }

  async get(runId: string): Promise<BulkProgress | undefined> {
    const row = await this.db.selectFrom('bulk_runs').selectAll().where('id', '=', runId).executeTakeFirst();
    return row && this.describe(row, await this.failures(runId, FAILURES_SHOWN));
  }

  /** The newest runs first (without their failures). */
  async list(kind: BulkRunKind | undefined, limit: number): Promise<BulkProgress[]> {
    let query = this.db.selectFrom('bulk_runs').selectAll().orderBy('started_at', 'desc').limit(limit);
    if (kind) query = query.where('kind', '=', kind);
    return (await query.execute()).map((row) => this.describe(row, []));
  }

  /** Every item of a run in the order they were recorded (an import's per-file report). */
  async items(runId: string): Promise<BulkRunItem[]> {
    const rows = await this.db
      .selectFrom('bulk_run_items')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('seq')
      .orderBy('item')
      .execute();
    return rows.map((r) => ({ item: r.item, outcome: r.outcome, failed: r.failed === 1, reason: r.reason, detail: r.detail }));
  }

  /** Running runs whose last sign of life is older than `before` (their process is gone). */
  async listSilent(kind: BulkRunKind, before: Date): Promise<string[]> {
    const rows = await this.db
      .selectFrom('bulk_runs')
      .select('id')
      .where('kind', '=', kind)
      .where('state', '=', 'running')
      .where('updated_at', '<', before.toISOString())
      .execute();
    return rows.map((r) => r.id);
  }

  /** Marks a run whose work can no longer finish; what was done stays in its report. */
  async markInterrupted(runId: string): Promise<boolean> {
    const at = this.now().toISOString();
    const result = await this.db
      .updateTable('bulk_runs')
      .set({ state: 'interrupted', finished_at: at, updated_at: at })
      .where('id', '=', runId)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Deletes runs (and their items) that ended before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('bulk_runs')
      .where('state', '!=', 'running')
      .where('finished_at', '<', before.toISOString())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  private async failures(runId: string, limit: number): Promise<{ item: string; reason: string }[]> {
    const rows = await this.db
      .selectFrom('bulk_run_items')
      .select(['item', 'reason'])
      .where('run_id', '=', runId)
      .where('failed', '=', 1)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ item: r.item, reason: r.reason ?? 'failed' }));
  }

  private describe(row: BulkRunsTable, failures: { item: string; reason: string }[]): BulkProgress {
    const end = row.finished_at ? Date.parse(row.finished_at) : this.now().getTime();
    const seconds = Math.max(0, (end - Date.parse(row.started_at)) / 1000);
    const rate = seconds > 0 ? row.done / seconds : 0;
    return {
      id: row.id,
      kind: row.kind,
      label: row.label,
      startedBy: row.started_by,
      status: row.state,
      total: row.total,
      done: row.done,
      failed: row.failed,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      ratePerSecond: Math.round(rate * 10) / 10,
      etaSeconds: row.state === 'running' && rate > 0 ? Math.ceil((row.total - row.done) / rate) : null,
      failures,
      summary: row.summary === null ? null : JSON.parse(row.summary),
    };
  }
}

/**
 * Works through the items with at most `concurrency` at once, stopping early (between items) when
 * `stopped()` says so. Each item's outcome is the work function's business; it must not throw.
 */
export async function forEachWithConcurrency<T>(
  items: Iterable<T>,
  concurrency: number,
  stopped: () => boolean,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const worker = async () => {
    while (!stopped()) {
      const next = iterator.next();
      if (next.done) return;
      await work(next.value);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}
