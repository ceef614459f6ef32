import PgBoss from 'pg-boss';
import type { SqlExecutor } from '../storage/index.ts';
import { SYNC_JOB_RETRY, type SyncJob, type SyncJobHandlers, type SyncJobQueue } from './sync-job-queue.ts';

const SYNC_QUEUE = 'photosync-sync';
const TICK_QUEUE = 'photosync-tick';

export interface PgBossQueueOptions {
  concurrency: number;
  /** pg-boss's fastest polling; a job enqueued by this process wakes a local worker at once anyway. */
  pollingIntervalSeconds?: number;
  /**
   * Held while pg-boss sets up its schema and queues: two processes starting at once otherwise
   * deadlock in its create_queue (seen with two servers started together).
   */
  setupLock?: <T>(key: string, work: () => Promise<T>) => Promise<T>;
}

/**
 * The PostgreSQL queue: pg-boss on the app's own pool. All processes share the jobs; two jobs for
 * one person never run a sync twice (the cross-process lock and the ETag compare see to that).
 * Retries and their backoff are pg-boss's.
 */
export class PgBossSyncQueue implements SyncJobQueue {
  private readonly boss: PgBoss;
  private started: Promise<void> | undefined;
  private readonly workerIds: string[] = [];

  constructor(
    executor: SqlExecutor,
    private readonly handlers: SyncJobHandlers,
    private readonly options: PgBossQueueOptions,
  ) {
    this.boss = new PgBoss({ db: executor, schema: 'pgboss', supervise: true, schedule: true });
    // pg-boss reports maintenance errors as events; an unhandled 'error' event would end the process.
    this.boss.on('error', () => {});
  }

  async enqueue(jobs: readonly SyncJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.ensureStarted();
    await this.boss.insert(jobs.map((job) => ({ name: SYNC_QUEUE, data: job })));
    for (const id of this.workerIds) this.boss.notifyWorker(id);
  }

  async startWorkers(): Promise<void> {
    await this.ensureStarted();
    const pollingIntervalSeconds = this.options.pollingIntervalSeconds ?? 0.5;
    for (let i = 0; i < this.options.concurrency; i++) {
      const id = await this.boss.work<SyncJob>(SYNC_QUEUE, { batchSize: 1, pollingIntervalSeconds }, async ([job]) => {
        if (job) await this.handlers.sync(job.data);
      });
      this.workerIds.push(id);
    }
    await this.boss.work(TICK_QUEUE, { pollingIntervalSeconds: 5 }, async () => this.handlers.tick());
    await this.duringSetup(() => this.boss.schedule(TICK_QUEUE, '* * * * *'));
  }

  async whenIdle(): Promise<void> {
    if (!this.started) return;
    while ((await this.boss.getQueueSize(SYNC_QUEUE, { before: 'completed' })) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 100));
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
      const retry = { retryLimit: SYNC_JOB_RETRY.retryLimit, retryDelay: SYNC_JOB_RETRY.retryDelaySeconds, retryBackoff: SYNC_JOB_RETRY.retryBackoff };
      // createQueue is idempotent across processes (it does nothing when the queue exists).
      // 'standard': a duplicate job for one person is a cheap ETag check, whereas 'stately' let one
      // job left active by a crashed process block every worker's fetch until it expired.
      // A sync takes well under a second; a job still active after a minute died with its process.
      await this.boss.createQueue(SYNC_QUEUE, { name: SYNC_QUEUE, policy: 'standard', expireInSeconds: 60, ...retry });
      await this.boss.createQueue(TICK_QUEUE, { name: TICK_QUEUE, policy: 'singleton', expireInSeconds: 600 });
    });
    return this.started;
  }
}
