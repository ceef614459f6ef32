import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { yieldToEventLoop } from '../event-loop.ts';
import { isUniqueViolation, type Schema, type SyncJobsTable } from '../storage/index.ts';
import {
  SYNC_JOB_EXPIRY_SECONDS,
  SYNC_JOB_RETRY,
  type EnqueueOptions,
  type QueueOptions,
  type SyncJob,
  type SyncJobHandler,
  type SyncJobQueue,
} from './sync-job-queue.ts';

/** How often an idle runner looks for jobs stored by another process (the CLI beside the server). */
const POLL_INTERVAL_MS = 500;
const INSERT_CHUNK = 200;

/**
 * The embedded queue (SQLite): jobs are rows of `sync_jobs`, written in the transaction of the
 * change that asked for them, and taken by the runner of whichever process has started workers
 * (the server; `sync --all` in the CLI). A job taken by a process that died is taken again once its
 * claim expires, and at once when the server starts. Retries follow SYNC_JOB_RETRY, as pg-boss does.
 */
export class SqliteSyncQueue implements SyncJobQueue {
  private running = 0;
  private started = false;
  private stopped = false;
  private claiming = false;
  private claimAgain = false;
  private poller: NodeJS.Timeout | undefined;
  private readonly runningJobs = new Set<Promise<void>>();
  private readonly now: () => Date;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly handler: SyncJobHandler,
    private readonly options: QueueOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  async enqueue(jobs: readonly SyncJob[], options: EnqueueOptions = {}): Promise<string[]> {
    const now = this.now();
    const availableAt = new Date(now.getTime() + (options.delaySeconds ?? 0) * 1000).toISOString();
    const rows: SyncJobsTable[] = jobs.map((job) => ({
      id: randomUUID(),
      singleton_key: options.singleton ? job.personIds[0]! : null,
      person_ids: JSON.stringify(job.personIds),
      trigger: job.trigger,
      run_id: job.runId ?? null,
      priority: options.bulk ? 0 : 10,
      state: 'waiting',
      available_at: availableAt,
      claimed_until: null,
      attempts: 0,
      created_at: now.toISOString(),
    }));
    const db = options.db ?? this.db;
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      // A bulk run stores thousands of jobs in one transaction: requests that need no database
      // (/healthz, cached photos) are answered between the chunks.
      if (i > 0) await yieldToEventLoop();
      await db
        .insertInto('sync_jobs')
        .values(rows.slice(i, i + INSERT_CHUNK))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    // Jobs in a transaction are not visible yet: the change's after-commit notice wakes the runner.
    if (!options.db) this.wake();
    return rows.map((row) => row.id);
  }

  async forget(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.db.deleteFrom('sync_jobs').where('id', 'in', ids).execute();
  }

  async pendingPersonIds(personIds: readonly string[]): Promise<Set<string>> {
    if (personIds.length === 0) return new Set();
    const rows = await sql<{
      id: string;
    }>`select distinct p.value as id from sync_jobs j, json_each(j.person_ids) p where p.value in (${sql.join(personIds)})`.execute(
      this.db,
    );
    return new Set(rows.rows.map((r) => r.id));
  }

  async hasPendingJobs(runId: string): Promise<boolean> {
    return (await this.db.selectFrom('sync_jobs').select('id').where('run_id', '=', runId).limit(1).executeTakeFirst()) !== undefined;
  }

  wake(): void {
    if (!this.started || this.stopped) return;
    void this.pump();
  }

  async startWorkers(): Promise<void> {
    this.started = true;
    // One server per SQLite file: whatever was running when the last process stopped is taken again now.
    await this.db.updateTable('sync_jobs').set({ claimed_until: this.now().toISOString() }).where('state', '=', 'running').execute();
    this.poller = setInterval(() => this.wake(), POLL_INTERVAL_MS).unref();
    this.wake();
  }

  async whenIdle(): Promise<void> {
    for (;;) {
      const left = await this.db
        .selectFrom('sync_jobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(left.n) === 0 && this.running === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poller);
    await Promise.all(this.runningJobs);
  }

  /** Takes as many due jobs as there are free workers, and again whenever one finishes. */
  private async pump(): Promise<void> {
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = true;
    try {
      do {
        this.claimAgain = false;
        while (!this.stopped && this.running < this.options.concurrency) {
          const jobs = await this.claim(this.options.concurrency - this.running);
          if (jobs.length === 0) break;
          for (const job of jobs) this.start(job);
        }
      } while (this.claimAgain && !this.stopped);
    } catch (error) {
      this.options.log.warn({ err: error }, 'could not take sync jobs; trying again shortly');
    } finally {
      this.claiming = false;
    }
  }

  private async claim(limit: number): Promise<SyncJobsTable[]> {
    const now = this.now();
    const due = this.db
      .selectFrom('sync_jobs')
      .select('id')
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'waiting'), eb('available_at', '<=', now.toISOString())]),
          eb.and([eb('state', '=', 'running'), eb('claimed_until', '<=', now.toISOString())]),
        ]),
      )
      .orderBy('priority', 'desc')
      .orderBy('available_at')
      .limit(limit);
    return this.db
      .updateTable('sync_jobs')
      .set((eb) => ({
        state: 'running',
        claimed_until: new Date(now.getTime() + SYNC_JOB_EXPIRY_SECONDS * 1000).toISOString(),
        attempts: eb('attempts', '+', 1),
      }))
      .where('id', 'in', due)
      .returningAll()
      .execute();
  }

  private start(row: SyncJobsTable): void {
    this.running++;
    const job: SyncJob = {
      personIds: JSON.parse(row.person_ids) as string[],
      trigger: row.trigger as SyncJob['trigger'],
      ...(row.run_id && { runId: row.run_id }),
    };
    // Started on a later turn of the event loop: with SQLite a whole chain of jobs could otherwise
    // run as one long stretch of promise callbacks and hold every request up.
    const work = yieldToEventLoop()
      .then(() => this.handler(job))
      .then(
        async () => void (await this.db.deleteFrom('sync_jobs').where('id', '=', row.id).execute()),
        (error: unknown) => this.retryLater(row, job, error),
      )
      .catch((error: unknown) =>
        this.options.log.warn(
          { err: error, personIds: job.personIds.slice(0, 5) },
          'could not settle a sync job; it runs again when its claim expires',
        ),
      )
      .finally(() => {
        this.running--;
        this.runningJobs.delete(work);
        this.wake();
      });
    this.runningJobs.add(work);
  }

  private async retryLater(row: SyncJobsTable, job: SyncJob, error: unknown): Promise<void> {
    const reason = error instanceof Error ? error.message : String(error);
    if (row.attempts > SYNC_JOB_RETRY.retryLimit) {
      this.options.log.warn(
        { personIds: job.personIds, trigger: job.trigger, attempts: row.attempts, reason },
        'sync job failed on every retry; the person stays failed until the next change or a forced sync',
      );
      await this.db.deleteFrom('sync_jobs').where('id', '=', row.id).execute();
      return;
    }
    const base = this.options.retryDelayMs ?? SYNC_JOB_RETRY.retryDelaySeconds * 1000;
    const delayMs = base * 2 ** (row.attempts - 1);
    const availableAt = new Date(this.now().getTime() + delayMs).toISOString();
    this.options.log.info({ personIds: job.personIds, trigger: job.trigger, attempt: row.attempts, reason }, 'sync job failed; retrying');
    try {
      await this.db
        .updateTable('sync_jobs')
        .set({ state: 'waiting', available_at: availableAt, claimed_until: null })
        .where('id', '=', row.id)
        .execute();
    } catch (conflict) {
      // The person is waiting again already (a newer change): that request does the work.
      if (!isUniqueViolation(conflict)) throw conflict;
      await this.db.deleteFrom('sync_jobs').where('id', '=', row.id).execute();
    }
    setTimeout(() => this.wake(), delayMs + 5).unref();
  }
}
