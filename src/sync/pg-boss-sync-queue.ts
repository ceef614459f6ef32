import { randomUUID } from 'node:crypto';
import type PgBoss from 'pg-boss';
import { sqlExecutorFor, type SqlExecutor } from '../storage/index.ts';
import {
  SYNC_JOB_EXPIRY_SECONDS,
  SYNC_JOB_RETRY,
  type EnqueueOptions,
  type QueueOptions,
  type SyncJob,
  type SyncJobHandler,
  type SyncJobQueue,
} from './sync-job-queue.ts';

/**
 * The queue of sync requests. 'short' keeps at most one waiting job per singleton key: a person
 * already waiting is not queued again, while a person being synced can get one follow-up. (A new
 * name: the earlier 'photosync-sync' queue had the 'standard' policy, and a policy is fixed at creation.)
 */
const SYNC_QUEUE = 'photosync-sync-requests';

/**
 * The PostgreSQL queue: pg-boss on the app's own pool. All processes share the jobs; two jobs for
 * one person never run a sync twice (the cross-process lock and the ETag compare see to that).
 * Retries and their backoff are pg-boss's.
 */
export class PgBossSyncQueue implements SyncJobQueue {
  private readonly boss: PgBoss;
  private started: Promise<void> | undefined;
  private readonly workerIds: string[] = [];

  /** pg-boss (and through it pg) is loaded here, not with the server: SQLite installations never need it. */
  static async create(executor: SqlExecutor, handler: SyncJobHandler, options: QueueOptions): Promise<PgBossSyncQueue> {
    const { default: PgBossClass } = await import('pg-boss');
    return new PgBossSyncQueue(PgBossClass, executor, handler, options);
  }

  private constructor(
    PgBossClass: typeof PgBoss,
    private readonly executor: SqlExecutor,
    private readonly handler: SyncJobHandler,
    private readonly options: QueueOptions,
  ) {
    this.boss = new PgBossClass({ db: executor, schema: 'pgboss', supervise: true, schedule: false });
    // An unhandled 'error' event would end the process; pg-boss reports maintenance and fetch errors here.
    this.boss.on('error', (error) => options.log.warn({ err: error }, 'pg-boss reported an error'));
  }

  async enqueue(jobs: readonly SyncJob[], options: EnqueueOptions = {}): Promise<string[]> {
    if (jobs.length === 0) return [];
    await this.ensureStarted();
    const records = jobs.map((job) => {
      const id = randomUUID();
      return {
        id,
        name: SYNC_QUEUE,
        data: job,
        // Under 'short' every waiting job needs a key; only a singleton's is shared.
        singletonKey: options.singleton ? job.personIds[0]! : id,
        priority: options.bulk ? 0 : 10,
        ...(options.delaySeconds && { startAfter: String(options.delaySeconds) }),
      };
    });
    const db = options.db ? sqlExecutorFor(options.db) : undefined;
    for (let i = 0; i < records.length; i += 500) {
      await this.boss.insert(records.slice(i, i + 500), db ? { db } : {});
    }
    if (!options.db) this.wake();
    return records.map((r) => r.id);
  }

  async forget(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.ensureStarted();
    await this.boss.deleteJob(SYNC_QUEUE, [...ids]);
  }

  async pendingPersonIds(personIds: readonly string[]): Promise<Set<string>> {
    if (personIds.length === 0) return new Set();
    await this.ensureStarted();
    const { rows } = await this.executor.executeSql(
      `select distinct p.id from pgboss.job j, jsonb_array_elements_text(j.data->'personIds') p(id)
        where j.name = $1 and j.state < 'completed' and p.id = any($2::text[])`,
      [SYNC_QUEUE, personIds],
    );
    return new Set(rows.map((row) => String(row.id)));
  }

  async hasPendingJobs(runId: string): Promise<boolean> {
    await this.ensureStarted();
    const { rows } = await this.executor.executeSql(
      `select 1 from pgboss.job where name = $1 and state < 'completed' and data->>'runId' = $2 limit 1`,
      [SYNC_QUEUE, runId],
    );
    return rows.length > 0;
  }

  wake(): void {
    for (const id of this.workerIds) this.boss.notifyWorker(id);
  }

  async startWorkers(): Promise<void> {
    await this.ensureStarted();
    for (let i = 0; i < this.options.concurrency; i++) {
      const id: string = await this.boss.work<SyncJob>(SYNC_QUEUE, { batchSize: 1, pollingIntervalSeconds: 0.5 }, async ([job]) => {
        try {
          if (job) await this.handler(job.data);
        } finally {
          // pg-boss sleeps out its polling interval after each fetch unless notified: with work
          // waiting, fetch again at once (otherwise a worker manages two jobs a second).
          if (job) this.boss.notifyWorker(id);
        }
      });
      this.workerIds.push(id);
    }
  }

  async whenIdle(): Promise<void> {
    if (!this.started) return;
    while ((await this.boss.getQueueSize(SYNC_QUEUE, { before: 'completed' })) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    await this.started;
    await this.boss.stop({ graceful: true, wait: true, close: false, timeout: 10_000 });
  }

  private duringSetup<T>(work: () => Promise<T>): Promise<T> {
    return this.options.setupLock ? this.options.setupLock('pg-boss-setup', work) : work();
  }

  private ensureStarted(): Promise<void> {
    this.started ??= this.duringSetup(async () => {
      await this.boss.start();
      const retry = {
        retryLimit: SYNC_JOB_RETRY.retryLimit,
        retryDelay: SYNC_JOB_RETRY.retryDelaySeconds,
        retryBackoff: SYNC_JOB_RETRY.retryBackoff,
      };
      // createQueue is idempotent across processes (it does nothing when the queue exists).
      // A sync takes well under a second; a job still active after a minute died with its process.
      await this.boss.createQueue(SYNC_QUEUE, { name: SYNC_QUEUE, policy: 'short', expireInSeconds: SYNC_JOB_EXPIRY_SECONDS, ...retry });
    });
    return this.started;
  }
}
