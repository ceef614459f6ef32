import type { SqlExecutor } from '../storage/index.ts';

/** A sync job: one person, and what asked for it. */
export interface SyncJob {
  personId: string;
  trigger: 'on-change' | 'scheduled';
}

export interface SyncJobHandlers {
  /** Throws to have the job retried (with backoff, a bounded number of times). */
  sync(job: SyncJob): Promise<void>;
  /** Runs about once a minute in one process (the scheduled mode decides there whether a sweep is due). */
  tick(): Promise<void>;
}

/** Retries for a failing sync: the job library's own, with these settings on both databases. */
export const SYNC_JOB_RETRY = { retryLimit: 3, retryDelaySeconds: 2, retryBackoff: true } as const;

/**
 * Where on-change and scheduled syncs wait for a worker: pg-boss on PostgreSQL (shared by all
 * processes), an in-process runner on SQLite.
 */
export interface SyncJobQueue {
  /** Queues the jobs; a person already waiting is not queued twice. */
  enqueue(jobs: readonly SyncJob[]): Promise<void>;
  /** From now on this process takes jobs and ticks (the server does; a CLI command only enqueues). */
  startWorkers(): Promise<void>;
  /** Resolves when no job is waiting or running (for tests and scripts). */
  whenIdle(): Promise<void>;
  /** Stops taking jobs and waits for the running ones. */
  stop(): Promise<void>;
}

/**
 * The queue for this database: pg-boss (loaded only then) when there is PostgreSQL to share jobs
 * through, else the in-process runner.
 */
export async function createSyncJobQueue(
  executor: SqlExecutor | undefined,
  handlers: SyncJobHandlers,
  options: InProcessQueueOptions & { setupLock?: <T>(key: string, work: () => Promise<T>) => Promise<T> },
): Promise<SyncJobQueue> {
  if (!executor) return new InProcessSyncQueue(handlers, options);
  const { PgBossSyncQueue } = await import('./pg-boss-sync-queue.ts');
  return new PgBossSyncQueue(executor, handlers, { concurrency: options.concurrency, ...(options.setupLock && { setupLock: options.setupLock }) });
}

export interface InProcessQueueOptions {
  concurrency: number;
  /** Scaled down in tests; the retry count and backoff shape stay those of SYNC_JOB_RETRY. */
  retryDelayMs?: number;
  tickIntervalMs?: number;
}

/**
 * The embedded (SQLite, one process) queue: jobs run in this process with bounded concurrency and
 * the same retry settings pg-boss gets. Jobs run in any process that enqueues them (a CLI change
 * in on-change mode syncs before the command exits); only a started server ticks.
 */
export class InProcessSyncQueue implements SyncJobQueue {
  private readonly waiting = new Map<string, { job: SyncJob; attempt: number }>();
  private readonly delayed = new Set<NodeJS.Timeout>();
  private running = 0;
  private stopped = false;
  private ticker: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handlers: SyncJobHandlers,
    private readonly options: InProcessQueueOptions,
  ) {}

  async enqueue(jobs: readonly SyncJob[]): Promise<void> {
    if (this.stopped) return;
    for (const job of jobs) if (!this.waiting.has(job.personId)) this.waiting.set(job.personId, { job, attempt: 0 });
    this.pump();
  }

  async startWorkers(): Promise<void> {
    const interval = this.options.tickIntervalMs ?? 60_000;
    this.ticker = setInterval(() => void this.handlers.tick().catch(() => {}), interval).unref();
  }

  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.ticker);
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    this.waiting.clear();
    if (this.running > 0) await this.whenIdle();
  }

  private isIdle(): boolean {
    return this.running === 0 && this.waiting.size === 0 && this.delayed.size === 0;
  }

  private pump(): void {
    while (!this.stopped && this.running < this.options.concurrency && this.waiting.size > 0) {
      const [personId, entry] = this.waiting.entries().next().value!;
      this.waiting.delete(personId);
      this.running++;
      void this.handlers
        .sync(entry.job)
        .catch(() => this.retryLater(entry))
        .finally(() => {
          this.running--;
          this.pump();
          if (this.isIdle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
        });
    }
  }

  private retryLater(entry: { job: SyncJob; attempt: number }): void {
    if (this.stopped || entry.attempt >= SYNC_JOB_RETRY.retryLimit) return;
    const base = this.options.retryDelayMs ?? SYNC_JOB_RETRY.retryDelaySeconds * 1000;
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      if (!this.waiting.has(entry.job.personId)) this.waiting.set(entry.job.personId, { job: entry.job, attempt: entry.attempt + 1 });
      this.pump();
    }, base * 2 ** entry.attempt);
    this.delayed.add(timer);
  }
}
