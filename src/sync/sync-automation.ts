import type { SyncMode } from '../config.ts';
import type { DirectoryService } from '../directory/index.ts';
import type { PhotoChange } from '../mail/index.ts';
import type { SyncEngine } from './sync-engine.ts';
import type { SyncJob, SyncJobQueue } from './sync-job-queue.ts';
import type { SyncSettingsStore } from './sync-settings.ts';
import type { SyncStatusStore } from './sync-status-store.ts';

/** How many out-of-date people one scheduled sweep queues at most; the next sweep takes the rest. */
const SWEEP_BATCH = 50_000;

/**
 * The two modes beyond Microsoft 365. On change: Mail's after-commit event queues a sync of that
 * person. Scheduled: once per interval the out-of-date people are queued, oldest-checked first.
 * Workers take the queued jobs with bounded concurrency. The user-initiated triggers work in every mode.
 */
export class SyncAutomation {
  constructor(
    private readonly engine: SyncEngine,
    private readonly directory: DirectoryService,
    private readonly settings: SyncSettingsStore,
    private readonly status: SyncStatusStore,
    private readonly queue: SyncJobQueue,
  ) {}

  /** Anyone may know the mode (the info page states it); only admins change it. */
  async currentMode(): Promise<SyncMode> {
    return (await this.settings.get()).mode;
  }

  async onPhotoChanged(change: PhotoChange): Promise<void> {
    if ((await this.settings.get()).mode !== 'on-change') return;
    await this.queue.enqueue([{ personId: change.personId, trigger: 'on-change' }]);
  }

  /** The queue's job handler: a failed sync throws so the queue retries it. */
  async runJob(job: SyncJob): Promise<void> {
    const person = await this.directory.findPerson(job.personId);
    if (!person) return;
    const result = await this.engine.syncProfilePhoto(person, job.trigger, { afterChange: job.trigger === 'on-change' });
    if (result.outcome === 'failed') throw new Error(result.error ?? 'sync failed');
  }

  /**
   * Once a minute: in scheduled mode, sweep when the interval has passed since the last sweep. In
   * on-change mode, queue anyone still out of date: a safety net for a change whose job was lost.
   */
  async tick(): Promise<void> {
    const settings = await this.settings.get();
    if (settings.mode === 'on-change') {
      await this.queueOutOfDate('on-change', { includeFailed: false });
      return;
    }
    if (settings.mode !== 'scheduled') return;
    if (!(await this.settings.claimScheduledSweep(settings.intervalMinutes))) return;
    await this.queueOutOfDate();
  }

  /**
   * Queues everyone whose Sites copy is out of date or never checked; returns how many. The
   * on-change safety net leaves out failed people: their jobs were retried already, and a broken
   * photo would otherwise be tried (and recorded) every minute.
   */
  async queueOutOfDate(trigger: SyncJob['trigger'] = 'scheduled', options: { includeFailed?: boolean } = {}): Promise<number> {
    const personIds = await this.status.listOutOfDate(SWEEP_BATCH, options);
    await this.queue.enqueue(personIds.map((personId) => ({ personId, trigger })));
    return personIds.length;
  }

  /**
   * Starts taking jobs. In on-change mode it first catches up: a change whose job was lost with a
   * crashed process (queued in memory, or committed just before the process died) syncs now.
   */
  async startWorkers(): Promise<void> {
    await this.queue.startWorkers();
    if ((await this.settings.get()).mode === 'on-change') await this.queueOutOfDate('on-change', { includeFailed: false });
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  stop(): Promise<void> {
    return this.queue.stop();
  }
}
