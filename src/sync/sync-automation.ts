import type { Logger } from 'pino';
import type { SyncMode } from './sync-mode.ts';
import type { DirectoryService } from '../directory/index.ts';
import { yieldToEventLoop } from '../event-loop.ts';
import { forEachWithConcurrency, type BulkRunItem, type BulkRuns } from '../runs/index.ts';
import type { SyncEngine } from './sync-engine.ts';
import type { SyncJob, SyncJobQueue } from './sync-job-queue.ts';
import type { SyncRequests } from './sync-requests.ts';
import type { SyncSettingsStore } from './sync-settings.ts';
import type { SyncStatusStore } from './sync-status-store.ts';

/** How many out-of-date people one scheduled sweep queues at most; the next sweep takes the rest. */
const SWEEP_BATCH = 50_000;

/** People of one bulk slice checked at once by one worker. */
const BULK_SLICE_CONCURRENCY = 4;
/** Results recorded per write of a bulk run's progress. */
const RECORD_BATCH = 10;

/** A running import with no sign of life for this long lost its process. */
const SILENT_IMPORT_MS = 60_000;
/** A running bulk sync with no job left and no item recorded for this long cannot finish. */
const SILENT_SYNC_RUN_MS = 120_000;

export interface SyncAutomationOptions {
  log: Logger;
  /** How often the tick looks (scheduled sweep due? anything to rescue?); the sweep keeps its own interval. */
  tickIntervalMs: number;
  /** Finished bulk runs are deleted after this many days. */
  runRetentionDays: number;
  now?: () => Date;
}

/**
 * The modes beyond Microsoft 365, and the workers. On change: the request is stored with the Mail
 * change (SyncRequests). Scheduled: once per interval the out-of-date people are queued,
 * oldest-checked first. Workers take queued jobs with bounded concurrency: one person, or a slice
 * of a bulk run. The user-initiated triggers work in every mode.
 */
export class SyncAutomation {
  private ticker: NodeJS.Timeout | undefined;
  private workersStarted: Promise<void> | undefined;
  private readonly now: () => Date;

  constructor(
    private readonly engine: SyncEngine,
    private readonly directory: DirectoryService,
    private readonly settings: SyncSettingsStore,
    private readonly status: SyncStatusStore,
    private readonly queue: SyncJobQueue,
    private readonly requests: SyncRequests,
    private readonly runs: BulkRuns,
    private readonly options: SyncAutomationOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /** Anyone may know the mode (the info page states it); only admins change it. */
  async currentMode(): Promise<SyncMode> {
    return (await this.settings.get()).mode;
  }

  /** The queue's job handler: a failed sync of one person throws so the queue retries it. */
  async runJob(job: SyncJob): Promise<void> {
    if (job.runId) return this.runBulkSlice(job, job.runId);
    const person = await this.directory.findPerson(job.personIds[0]!);
    if (!person) return;
    const result = await this.engine.syncProfilePhoto(person, job.trigger, { afterChange: job.trigger === 'on-change' });
    if (result.outcome === 'failed') throw new Error(result.error ?? 'sync failed');
  }

  /**
   * A slice of a bulk run: each person synced and counted once in the run, a few at a time (a check
   * mostly waits for the database). Results are recorded in small batches, and the run's state is
   * looked at with each batch: a cancelled run's remaining people are skipped. One person's failure
   * is recorded and the slice goes on.
   */
  private async runBulkSlice(job: SyncJob, runId: string): Promise<void> {
    let pending: BulkRunItem[] = [];
    let cancelled = !(await this.runs.isRunning(runId));
    const flush = async () => {
      const items = pending;
      pending = [];
      await this.runs.recordItems(runId, items);
      cancelled = !(await this.runs.isRunning(runId));
    };
    await forEachWithConcurrency(
      job.personIds,
      BULK_SLICE_CONCURRENCY,
      () => cancelled,
      async (personId) => {
        const item = await this.syncForRun(personId, job.trigger, runId);
        // Pushed after the await: a flush meanwhile replaced the array.
        pending.push(item);
        if (pending.length >= RECORD_BATCH) await flush();
        // On SQLite every query completes without a trip through the event loop: let it breathe.
        await yieldToEventLoop();
      },
    );
    await flush();
  }

  private async syncForRun(personId: string, trigger: SyncJob['trigger'], runId: string): Promise<BulkRunItem> {
    try {
      const person = await this.directory.findPerson(personId);
      if (!person) return { item: personId, outcome: 'failed', failed: true, reason: 'The person no longer exists.', detail: null };
      const result = await this.engine.syncProfilePhoto(person, trigger);
      return {
        item: person.userPrincipalName,
        outcome: result.outcome,
        failed: result.outcome === 'failed',
        reason: result.error,
        detail: null,
      };
    } catch (error) {
      // The engine reports failures in its result; this is the unexpected (a lost database connection).
      this.options.log.warn({ err: error, personId, runId }, 'bulk sync of a person failed unexpectedly');
      return {
        item: personId,
        outcome: 'failed',
        failed: true,
        reason: `Unexpected error: ${error instanceof Error ? error.message : String(error)}`,
        detail: null,
      };
    }
  }

  /**
   * The tick, in every server process (the claims make each piece run in one place per interval):
   * a due scheduled sweep, the on-change safety net, runs whose process is gone, old runs.
   */
  async tick(): Promise<void> {
    const settings = await this.settings.get();
    if (settings.mode === 'scheduled' && (await this.settings.claimScheduledSweep(settings.intervalMinutes))) {
      const queued = await this.queueOutOfDate('scheduled');
      this.options.log.info({ queued }, 'scheduled sweep queued the out-of-date people');
    }
    if (settings.mode === 'on-change' && (await this.settings.claimSafetyNet(this.options.tickIntervalMs))) await this.rescueLostChanges();
    await this.endSilentRuns();
    await this.runs.prune(new Date(this.now().getTime() - this.options.runRetentionDays * 86_400_000));
  }

  /**
   * On-change safety net. Every change stores its request in its own transaction, so this should
   * find nobody: a person it finds out of date with no request waiting or running is a lost change,
   * logged as a warning with who it was, and queued. Failed people are left out (their jobs were
   * retried already; a broken photo would be tried every minute).
   */
  async rescueLostChanges(): Promise<number> {
    const stale = await this.status.listOutOfDate(SWEEP_BATCH, { includeFailed: false });
    if (stale.length === 0) return 0;
    const pending = await this.queue.pendingPersonIds(stale);
    // Looked at again after the pending requests: a sync that ended in between is not a loss.
    const lost = [
      ...(await this.status.outOfDateAmong(
        stale.filter((id) => !pending.has(id)),
        { includeFailed: false },
      )),
    ];
    for (const personId of lost) {
      const person = await this.directory.findPerson(personId);
      const mail = person ? await this.engine.mailPhotoOf(person) : null;
      this.options.log.warn(
        { personId, userPrincipalName: person?.userPrincipalName, mailEtag: mail?.etag ?? null, mailChangedAt: mail?.changedAt ?? null },
        'sync safety net: Sites is behind Mail and no sync request is pending; queued one',
      );
    }
    await this.requests.request(lost, 'on-change');
    return lost.length;
  }

  /** Queues everyone whose Sites copy is out of date or never checked; returns how many. */
  async queueOutOfDate(trigger: SyncJob['trigger'], options: { includeFailed?: boolean } = {}): Promise<number> {
    const personIds = await this.status.listOutOfDate(SWEEP_BATCH, options);
    await this.requests.request(personIds, trigger);
    return personIds.length;
  }

  /**
   * A bulk sync resumes by itself after a restart (its jobs are stored); one whose jobs are all
   * gone without finishing it, or an import whose process died, is marked interrupted.
   */
  private async endSilentRuns(): Promise<void> {
    const now = this.now().getTime();
    for (const kind of ['import', 'directory'] as const) {
      for (const runId of await this.runs.listSilent(kind, new Date(now - SILENT_IMPORT_MS))) {
        if (await this.runs.markInterrupted(runId))
          this.options.log.warn({ runId, kind }, 'a run worked in one process stopped with that process; marked interrupted');
      }
    }
    for (const runId of await this.runs.listSilent('sync', new Date(now - SILENT_SYNC_RUN_MS))) {
      if (await this.queue.hasPendingJobs(runId)) continue;
      if (await this.runs.markInterrupted(runId))
        this.options.log.warn({ runId }, 'a bulk sync has no work left but did not finish; marked interrupted');
    }
  }

  /**
   * Starts taking jobs and ticking. In on-change mode it first catches up on PostgreSQL's jobs left
   * active by a process that died (pg-boss gives them out again only after they expire): anyone out
   * of date gets a request, unless one is waiting already.
   */
  async startWorkers(options: { tick?: boolean } = {}): Promise<void> {
    this.workersStarted ??= this.queue.startWorkers();
    await this.workersStarted;
    // A command that only helps with a run (sync --all) neither catches up nor ticks: the server does.
    if (options.tick === false || this.ticker) return;
    if ((await this.settings.get()).mode === 'on-change') {
      const queued = await this.queueOutOfDate('on-change', { includeFailed: false });
      if (queued > 0)
        this.options.log.info(
          { queued },
          'on-change catch-up at start: out-of-date people queued (those already waiting keep their place)',
        );
    }
    this.ticker = setInterval(() => {
      this.tick().catch((error: unknown) => this.options.log.warn({ err: error }, 'the sync tick failed; the next one tries again'));
    }, this.options.tickIntervalMs).unref();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    await this.queue.stop();
  }
}
