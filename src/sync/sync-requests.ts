import type { Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Person } from '../directory/index.ts';
import type { BulkRuns, StartRun } from '../runs/index.ts';
import type { Schema } from '../storage/index.ts';
import type { SyncEngine, SyncResult } from './sync-engine.ts';
import type { SyncJobQueue } from './sync-job-queue.ts';
import type { SyncSettingsStore } from './sync-settings.ts';
import type { SyncTrigger } from './sync-state.ts';

/** People per job of a bulk run: one worker takes the job and checks a few of them at a time. */
const RUN_CHUNK = 50;

/** A waited-for sync left unfinished by a crash is done by a worker after this long. */
const IN_PLACE_GRACE_SECONDS = 30;

/**
 * The one way to ask for a sync, whatever asks: a person's own view, SetMyProfilePicture, a Mail
 * change in on-change mode, the scheduled sweep, an admin (one person, everyone, the out-of-date).
 * Every request is stored before anything else happens, so no crash at any instant loses it:
 * a change's request in the change's own transaction, a bulk run's jobs in the run's transaction,
 * and a sync that the caller waits for as a record that a worker picks up if this process dies.
 */
export class SyncRequests {
  constructor(
    private readonly engine: SyncEngine,
    private readonly queue: SyncJobQueue,
    private readonly settings: SyncSettingsStore,
    private readonly runs: BulkRuns,
    private readonly options: { log: Logger; announce: () => Promise<void> },
  ) {}

  /** Called inside the transaction of a Mail change: in on-change mode the request commits with it. */
  async requestForChange(personId: string, trx: Transaction<Schema>): Promise<void> {
    if ((await this.settings.get(trx)).mode !== 'on-change') return;
    await this.queue.enqueue([{ personIds: [personId], trigger: 'on-change' }], { db: trx, singleton: true });
  }

  /** The caller waits for the answer (the person's own view, an admin's button). */
  async syncNow(person: Person, trigger: SyncTrigger, options: { afterChange?: boolean } = {}): Promise<SyncResult> {
    const ids = await this.queue.enqueue([{ personIds: [person.id], trigger }], { delaySeconds: IN_PLACE_GRACE_SECONDS });
    const result = await this.engine.syncProfilePhoto(person, trigger, options);
    await this.queue.forget(ids).catch((error: unknown) => {
      // Left in place it only makes a worker check this person once more (an ETag compare).
      this.options.log.warn({ err: error, personId: person.id }, 'could not drop the record of a sync already done');
    });
    return result;
  }

  /** Queued syncs nobody waits for (the scheduled sweep, catching up): one waiting request per person. */
  async request(personIds: readonly string[], trigger: SyncTrigger): Promise<void> {
    if (personIds.length === 0) return;
    await this.queue.enqueue(
      personIds.map((id) => ({ personIds: [id], trigger })),
      { singleton: true },
    );
    await this.announce();
  }

  /**
   * A bulk run: the run and all its jobs in one transaction, so a run never exists without its work.
   * Any process's workers take the jobs; the run's row counts what they did.
   */
  async requestRun(run: Omit<StartRun, 'total'>, personIds: readonly string[], trigger: SyncTrigger): Promise<string> {
    const runId = await this.runs.start({ ...run, total: personIds.length }, async (trx, id) => {
      const jobs = [];
      for (let i = 0; i < personIds.length; i += RUN_CHUNK) jobs.push({ personIds: personIds.slice(i, i + RUN_CHUNK), trigger, runId: id });
      await this.queue.enqueue(jobs, { db: trx, bulk: true });
    });
    await this.announce();
    return runId;
  }

  /** Tells every process's workers that jobs wait (this one's too). */
  private async announce(): Promise<void> {
    this.queue.wake();
    await this.options
      .announce()
      .catch((error: unknown) =>
        this.options.log.warn(
          { err: error },
          'could not tell the other server processes about new sync jobs; they find them when they next poll',
        ),
      );
  }
}
