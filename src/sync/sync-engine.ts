import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Person } from '../directory/index.ts';
import type { Schema } from '../storage/index.ts';
import { AppError } from '../errors.ts';
import { renderSiteThumbnails, type ImageWorkQueue } from '../imaging/index.ts';
import type { SitesService } from '../sites/index.ts';
import type { PhotoSource, SourcePhotoMetadata } from './photo-source.ts';
import type { SyncRunStore } from './sync-run-store.ts';
import { describeSyncState, type SyncOutcome, type SyncRun, type SyncState, type SyncTrigger } from './sync-state.ts';

export interface SyncResult {
  personId: string;
  outcome: SyncOutcome;
  mailEtag: string | null;
  error: string | null;
  durationMs: number;
}

export interface SyncEngineOptions {
  now?: () => Date;
  newId?: () => string;
  /** Told about every finished run (metrics, logs). */
  onRun?: (run: SyncRun) => void;
  /** Shared with Mail's uploads; a sync waits its turn (it is never refused). */
  imageWork?: ImageWorkQueue;
  /** Holds across server processes (PostgreSQL), so one person's sync runs in one place at a time. */
  crossProcessLock?: <T>(key: string, work: () => Promise<T>) => Promise<T>;
  /** Where a failure that cannot be handed back (recording a failed run) is told. */
  log?: Logger;
}

/** What the sync uses of Sites (SitesService), so a test can stand in for it. */
export type SyncTarget = Pick<SitesService, 'getProfile' | 'recordCheck' | 'recordFailure' | 'applyMailPhoto' | 'applyPlaceholder'>;

/** Where the sync records its runs (SyncRunStore), so a test can stand in for it. */
export type SyncRunHistory = Pick<SyncRunStore, 'insert' | 'listForPerson'>;

/** Moves a person's photo from the PhotoSource (Mail) into Sites. */
export class SyncEngine {
  private readonly inFlight = new Map<string, Promise<SyncResult>>();
  private readonly followUps = new Map<string, Promise<SyncResult>>();
  private readonly now: () => Date;
  private readonly newId: () => string;

  constructor(
    private readonly source: PhotoSource,
    private readonly sites: SyncTarget,
    private readonly runs: SyncRunHistory,
    private readonly options: SyncEngineOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.newId = options.newId ?? randomUUID;
  }

  /**
   * Compares Mail's ETag with the one Sites last synced; renders and swaps only when they differ.
   * Concurrent calls for one person share one run (single flight). A failure keeps the previous copy
   * and is recorded with its reason; it is reported in the result, not thrown.
   */
  syncProfilePhoto(person: Person, trigger: SyncTrigger, options: { afterChange?: boolean } = {}): Promise<SyncResult> {
    const running = this.inFlight.get(person.id);
    if (running && options.afterChange) {
      // The running sync may have read Mail before this change: check once more after it; every
      // change that arrives meanwhile shares that one follow-up.
      let followUp = this.followUps.get(person.id);
      if (!followUp) {
        followUp = running.then(() => {
          this.followUps.delete(person.id);
          return this.syncProfilePhoto(person, trigger);
        });
        this.followUps.set(person.id, followUp);
      }
      return followUp;
    }
    if (running) return running;
    const lock = this.options.crossProcessLock;
    // In this process, concurrent triggers share one run; across processes, the lock makes the later
    // run wait for the earlier and then find the ETags equal.
    const run = (lock ? lock(`sync:${person.id}`, () => this.run(person, trigger)) : this.run(person, trigger)).finally(() =>
      this.inFlight.delete(person.id),
    );
    this.inFlight.set(person.id, run);
    return run;
  }

  async getSyncState(person: Person): Promise<SyncState> {
    const [metadata, profile] = await Promise.all([this.source.getMetadata(person), this.sites.getProfile(person.id)]);
    return describeSyncState(profile, metadata?.etag ?? null);
  }

  /** Mail's current photo as the sync sees it (the safety net names when it changed). */
  mailPhotoOf(person: Person): Promise<SourcePhotoMetadata | null> {
    return this.source.getMetadata(person);
  }

  getSyncHistory(person: Person, limit = 20): Promise<SyncRun[]> {
    return this.runs.listForPerson(person.id, limit);
  }

  private async run(person: Person, trigger: SyncTrigger): Promise<SyncResult> {
    const startedAt = this.now();
    const started = performance.now();
    let outcome: SyncOutcome;
    let mailEtag: string | null = null;
    let error: string | null = null;
    let run: SyncRun | undefined;
    const describeRun = (): SyncRun => ({
      id: this.newId(),
      personId: person.id,
      trigger,
      outcome,
      error,
      mailEtag,
      startedAt: startedAt.toISOString(),
      durationMs: performance.now() - started,
    });
    // A swap and the run that made it commit together: a crash never leaves a copy without its history.
    const recordWithSwap = (trx: Transaction<Schema>) => this.runs.insert((run = describeRun()), trx);
    try {
      const [metadata, profile] = await Promise.all([this.source.getMetadata(person), this.sites.getProfile(person.id)]);
      mailEtag = metadata?.etag ?? null;
      if (mailEtag === (profile?.syncedEtag ?? null)) {
        await this.sites.recordCheck(person.id, trigger);
        outcome = 'unchanged';
      } else {
        const photo = mailEtag === null ? null : await this.source.getPhoto(person);
        if (photo) {
          mailEtag = photo.etag;
          const render = () => renderSiteThumbnails(photo.bytes);
          const thumbnails = await (this.options.imageWork ? this.options.imageWork.run(render, { background: true }) : render());
          outcome = 'synced';
          await this.sites.applyMailPhoto(person.id, photo.etag, thumbnails, trigger, recordWithSwap);
        } else {
          mailEtag = null;
          outcome = 'placeholder';
          await this.sites.applyPlaceholder(person.id, trigger, recordWithSwap);
        }
      }
    } catch (failure) {
      run = undefined;
      outcome = 'failed';
      error =
        failure instanceof AppError ? failure.message : `Unexpected error: ${failure instanceof Error ? failure.message : String(failure)}`;
      this.options.log?.warn(
        { personId: person.id, userPrincipalName: person.userPrincipalName, trigger, reason: error },
        'sync failed; Sites keeps its previous copy',
      );
      await this.sites.recordFailure(person.id, trigger, error).catch((recordError: unknown) => {
        this.options.log?.error(
          { err: recordError, personId: person.id, reason: error },
          'could not record a failed sync in the Sites profile',
        );
      });
    }
    if (!run) {
      run = describeRun();
      await this.runs.insert(run).catch((recordError: unknown) => {
        this.options.log?.error({ err: recordError, personId: person.id, outcome }, 'could not record a sync run in the history');
      });
    }
    this.options.onRun?.(run);
    return { personId: person.id, outcome, mailEtag, error, durationMs: run.durationMs };
  }
}
