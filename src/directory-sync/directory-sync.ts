import type { Logger } from 'pino';
import { describeActor, type AuditLog } from '../audit/index.ts';
import type { LdapSyncConfig } from '../config.ts';
import type { DirectoryService, Person } from '../directory/index.ts';
import { AppError, DirectorySyncNotConfigured, DirectoryUnavailable, NotPermitted } from '../errors.ts';
import { isAdmin, type Actor } from '../identity/index.ts';
import { forEachWithConcurrency, type BulkProgress, type BulkRunItem, type BulkRuns } from '../runs/index.ts';
import { mapEntry, photoHashOf, valuesHashOf, type DirectoryEntry, type RawEntry } from './directory-entry.ts';
import { openLdapDirectory, type DirectorySession, type OpenDirectory } from './ldap-directory.ts';
import type { LdapEntryRow, LdapEntryStore } from './ldap-entry-store.ts';

/** The people lifecycle (services.people), as far as the sync uses it. */
export interface PeopleWriter {
  add(actor: Actor, details: { userPrincipalName: string; displayName?: string; mail?: string }): Promise<Person>;
  update(actor: Actor, person: Person, details: { displayName?: string; mail?: string | null }): Promise<Person>;
  disable(actor: Actor, person: Person, options?: { reason?: string }): Promise<void>;
  enable(actor: Actor, person: Person): Promise<void>;
}

/** The directory photo policy (services.directoryPhotos): decides what a directory photo does to Mail. */
export interface DirectoryPhotoReceiver {
  receive(person: Person, photo: Buffer | null, source: 'ldap'): Promise<{ outcome: string; reason?: string }>;
}

export const DIRECTORY_OUTCOMES = ['created', 'updated', 'unchanged', 'disabled', 'enabled', 'skipped', 'failed'] as const;
export type DirectoryOutcome = (typeof DIRECTORY_OUTCOMES)[number];

export interface DirectoryEntryResult {
  /** The UPN, or the entry's DN when it has no usable one. */
  item: string;
  outcome: DirectoryOutcome;
  /** What the photo policy did with a new or changed photo (imported, kept-own-photo, …), if anything. */
  photo: string | null;
  reason: string | null;
}

export interface DirectorySyncReport {
  runId: string;
  dryRun: boolean;
  status: BulkProgress['status'];
  /** Why the whole run failed (directory unreachable, bind refused); null when it ran through. */
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  startedBy: string;
  /** Entries read from the directory, and the pages of the paged search they came in. */
  entriesRead: number;
  pages: number;
  counts: Record<DirectoryOutcome, number>;
  photosImported: number;
  entries: DirectoryEntryResult[];
}

interface RunSummary {
  dryRun: boolean;
  error: string | null;
  entriesRead: number;
  pages: number;
}

/** The people changes the sync makes are the directory's: audited as the 'ldap' operator. */
const LDAP_ACTOR: Actor = { kind: 'operator', name: 'ldap' };
const PAGE_CONCURRENCY = 4;
const HEARTBEAT_MS = 10_000;
/** Items recorded per statement (seven values each). */
const RECORD_SLICE = 500;

export interface DirectorySyncOptions {
  log: Logger;
  now?: () => Date;
  /** Tests and the bench may point at another implementation; the default is ldapts. */
  openDirectory?: OpenDirectory;
  /** How often the schedule looks whether a sync is due (the interval itself is LDAP_SYNC_INTERVAL_MINUTES). */
  tickIntervalMs: number;
}

/**
 * LDAP directory sync: reads the directory with a paged search and brings people in line with it
 * through the people lifecycle and the directory photo policy. Each entry is remembered by its
 * stable id with a hash of its values and of its photo, so an unchanged entry costs no write and
 * an unchanged photo is never handed on again. People whose entry vanished or is disabled are
 * disabled (never removed); the sync enables only people it disabled itself. A run is a bulk run
 * (kind 'directory'): one at a time across processes, with every entry's outcome in its report.
 */
export class DirectorySync {
  private readonly now: () => Date;
  private readonly openDirectory: OpenDirectory;
  private ticker: NodeJS.Timeout | undefined;
  private scheduledRun: Promise<unknown> | undefined;

  constructor(
    private readonly config: LdapSyncConfig | undefined,
    private readonly people: PeopleWriter,
    private readonly photos: DirectoryPhotoReceiver,
    private readonly directory: DirectoryService,
    private readonly store: LdapEntryStore,
    private readonly runs: BulkRuns,
    private readonly audit: AuditLog,
    private readonly options: DirectorySyncOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.openDirectory = options.openDirectory ?? openLdapDirectory;
  }

  assertMayAdminister(actor: Actor): void {
    if (!isAdmin(actor)) throw new NotPermitted('Only an admin can sync people from the directory.');
  }

  /** The settings in effect, for the admin page (never the password). Undefined: LDAP sync is off. */
  settings(actor: Actor): Omit<LdapSyncConfig, 'bindPassword'> | undefined {
    this.assertMayAdminister(actor);
    if (!this.config) return undefined;
    const { bindPassword: _, ...shown } = this.config;
    return shown;
  }

  async listRuns(actor: Actor, limit: number): Promise<BulkProgress[]> {
    this.assertMayAdminister(actor);
    return this.runs.list('directory', limit);
  }

  /** A run's report from the database: from any process, also after a restart. */
  async findReport(actor: Actor, runId: string): Promise<DirectorySyncReport | undefined> {
    this.assertMayAdminister(actor);
    const run = await this.runs.get(runId);
    if (run?.kind !== 'directory') return undefined;
    const entries: DirectoryEntryResult[] = (await this.runs.items(runId)).map((item) => ({
      item: item.item,
      outcome: item.outcome as DirectoryOutcome,
      photo: item.detail,
      reason: item.reason,
    }));
    const summary = (run.summary ?? {}) as Partial<RunSummary>;
    const counts = Object.fromEntries(DIRECTORY_OUTCOMES.map((o) => [o, entries.filter((e) => e.outcome === o).length])) as Record<
      DirectoryOutcome,
      number
    >;
    return {
      runId,
      dryRun: summary.dryRun ?? run.label.startsWith('Dry run'),
      status: run.status,
      error: summary.error ?? null,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      startedBy: run.startedBy,
      entriesRead: summary.entriesRead ?? 0,
      pages: summary.pages ?? 0,
      counts,
      photosImported: entries.filter((e) => e.photo === 'imported').length,
      entries,
    };
  }

  /**
   * Starts a sync in the background and returns its run's id at once; `report` settles when it has
   * ended (a directory that cannot be reached ends it as failed, with the reason in the report).
   * A second sync while one runs anywhere gets DirectorySyncAlreadyRunning.
   */
  async start(
    actor: Actor,
    options: { dryRun: boolean; label?: string },
  ): Promise<{ runId: string; report: Promise<DirectorySyncReport> }> {
    this.assertMayAdminister(actor);
    const config = this.config;
    if (!config) throw new DirectorySyncNotConfigured();
    const who = describeActor(actor);
    const label = options.label ?? (options.dryRun ? 'Dry run: directory sync' : 'Directory sync');
    // The total is learnt from the directory; until then one placeholder keeps the run open.
    const runId = await this.runs.start({ kind: 'directory', label, startedBy: who.name, filter: config.filter, total: 1 });
    const report = this.work(actor, config, runId, options.dryRun);
    return { runId, report };
  }

  private async work(actor: Actor, config: LdapSyncConfig, runId: string, dryRun: boolean): Promise<DirectorySyncReport> {
    const log = this.options.log;
    const heartbeat = setInterval(() => {
      this.runs
        .heartbeat(runId)
        .catch((error: unknown) => log.warn({ err: error, runId }, 'could not record that a directory sync is alive'));
    }, HEARTBEAT_MS).unref();
    const summary: RunSummary = { dryRun, error: null, entriesRead: 0, pages: 0 };
    let session: DirectorySession | undefined;
    try {
      session = await this.openDirectory(config);
      const expected = await session.count();
      const progress = new RunProgress(this.runs, runId, expected);
      const seen = new Set<string>();
      const upnsSeen = new Map<string, string>();
      for await (const page of session.pages()) {
        summary.pages++;
        summary.entriesRead += page.length;
        const items = await this.syncPage(page, config, { dryRun, seen, upnsSeen });
        if (!(await progress.record(items))) return await this.end(actor, runId, summary, 'cancelled');
      }
      const remembered = await this.store.listAll();
      const vanished = remembered.filter((row) => !seen.has(row.stable_id) && row.state !== 'vanished');
      // An empty answer is far more likely a wrong filter or base DN than an organization with nobody left.
      if (summary.entriesRead === 0 && remembered.length > 0) {
        throw new DirectoryUnavailable(
          `The LDAP directory returned no entries under ${config.baseDn} with ${config.filter}; refusing to disable all ${remembered.length} people synced from it. Check LDAP_BASE_DN and LDAP_FILTER.`,
        );
      }
      const items: BulkRunItem[] = [];
      for (const row of vanished) items.push(await this.disableVanished(row, dryRun));
      await progress.record(items);
      return await this.end(actor, runId, summary, 'finished');
    } catch (error) {
      summary.error =
        error instanceof AppError ? error.message : `Unexpected error: ${error instanceof Error ? error.message : String(error)}`;
      // An AppError is the directory's answer (down, bind refused): said in words, no stack needed.
      if (error instanceof AppError) log.error({ runId, url: config.url, why: summary.error }, 'a directory sync failed');
      else log.error({ err: error, runId, url: config.url }, 'a directory sync failed unexpectedly');
      return await this.end(actor, runId, summary, 'failed');
    } finally {
      clearInterval(heartbeat);
      await session?.close();
    }
  }

  /** Records the run's end (a real run's audit entry first, so a finished run is always audited); returns its report. */
  private async end(
    actor: Actor,
    runId: string,
    summary: RunSummary,
    how: 'finished' | 'cancelled' | 'failed',
  ): Promise<DirectorySyncReport> {
    if (!summary.dryRun) {
      const sofar = (await this.findReport(actor, runId))!;
      const counts = DIRECTORY_OUTCOMES.filter((o) => sofar.counts[o] > 0).map((o) => `${sofar.counts[o]} ${o}`);
      await this.audit.record({
        actor: describeActor(actor),
        action: 'directory.sync',
        detail: summary.error
          ? `failed: ${summary.error}`
          : `${summary.entriesRead} entries: ${counts.join(', ') || 'nothing'}; ${sofar.photosImported} photos imported${how === 'cancelled' ? ' (cancelled)' : ''}`,
        ip: actor.ip ?? null,
      });
    }
    const run = await this.runs.get(runId);
    await this.runs.setTotal(runId, run?.done ?? 0);
    if (how === 'failed') await this.runs.markInterrupted(runId);
    await this.runs.finish(runId, summary);
    return (await this.findReport(actor, runId))!;
  }

  private async syncPage(
    page: readonly RawEntry[],
    config: LdapSyncConfig,
    run: { dryRun: boolean; seen: Set<string>; upnsSeen: Map<string, string> },
  ): Promise<BulkRunItem[]> {
    const mapped = page.map((raw) => mapEntry(raw, config.attributes, config.disabledRule));
    const rows = await this.store.findMany(mapped.flatMap((m) => (m.ok ? [m.entry.stableId] : [])));
    const items: BulkRunItem[] = [];
    const usable: DirectoryEntry[] = [];
    for (const m of mapped) {
      if (!m.ok) {
        items.push(skipped(m.dn, m.reason));
        continue;
      }
      run.seen.add(m.entry.stableId);
      const upnKey = m.entry.userPrincipalName.toLowerCase();
      const first = run.upnsSeen.get(upnKey);
      if (first !== undefined) {
        items.push(skipped(m.entry.dn, `${m.entry.dn}: the user principal name ${m.entry.userPrincipalName} is also on ${first}`));
        continue;
      }
      run.upnsSeen.set(upnKey, m.entry.dn);
      usable.push(m.entry);
    }
    await forEachWithConcurrency(
      usable,
      PAGE_CONCURRENCY,
      () => false,
      async (entry) => {
        items.push(await this.syncEntry(entry, rows.get(entry.stableId), run.dryRun));
      },
    );
    return items;
  }

  /** One entry: never throws (a failure is the entry's outcome, and the run goes on). */
  private async syncEntry(entry: DirectoryEntry, row: LdapEntryRow | undefined, dryRun: boolean): Promise<BulkRunItem> {
    const valuesHash = valuesHashOf(entry);
    const photoHash = photoHashOf(entry.photo);
    const state = entry.disabled ? 'disabled' : 'enabled';
    const item = entry.userPrincipalName;
    if (row && row.values_hash === valuesHash && row.photo_hash === photoHash && row.state === state) return result(item, 'unchanged');
    try {
      let person = row ? await this.directory.findPersonFresh(row.person_id) : undefined;
      // Someone added before the sync (by the CLI, a CSV), or whose entry was made again (a new
      // stable id), is taken over by their UPN, with what the sync knew of their old entry.
      if (!person) {
        person = await this.directory.findPerson(entry.userPrincipalName);
        if (person) row = await this.store.findByPerson(person.id);
      }
      let outcome: DirectoryOutcome = 'unchanged';
      let reason: string | null = null;
      if (!person) {
        outcome = 'created';
        if (dryRun)
          return result(
            item,
            'created',
            entry.photo && !entry.disabled ? 'would be offered' : null,
            entry.disabled ? 'would be created disabled' : null,
          );
        person = await this.people.add(LDAP_ACTOR, {
          userPrincipalName: entry.userPrincipalName,
          ...(entry.displayName && { displayName: entry.displayName }),
          ...(entry.mail && { mail: entry.mail }),
        });
      } else if (person.userPrincipalName.toLowerCase() !== entry.userPrincipalName.toLowerCase()) {
        return skipped(
          item,
          `${entry.dn}: its user principal name changed from ${person.userPrincipalName} to ${entry.userPrincipalName}; photosync does not rename people (add the new name and remove the old one)`,
        );
      } else {
        const changes: { displayName?: string; mail?: string | null } = {};
        if (entry.displayName !== undefined && entry.displayName !== person.displayName) changes.displayName = entry.displayName;
        if ((entry.mail ?? null) !== person.mail) changes.mail = entry.mail ?? null;
        if (Object.keys(changes).length > 0) {
          outcome = 'updated';
          reason = describeChanges(person, changes);
          if (!dryRun) person = await this.people.update(LDAP_ACTOR, person, changes);
        }
      }
      if (entry.disabled && person.enabled) {
        if (outcome === 'unchanged') outcome = 'disabled';
        reason = joined(reason, 'disabled in the directory');
        if (!dryRun) await this.people.disable(LDAP_ACTOR, person, { reason: `disabled in the LDAP directory (${entry.dn})` });
      } else if (!entry.disabled && !person.enabled && (row?.state === 'disabled' || row?.state === 'vanished')) {
        // Only people the directory disabled come back with it; an admin's own choice stays.
        if (outcome === 'unchanged') outcome = 'enabled';
        reason = joined(reason, 'enabled again in the directory');
        if (!dryRun) await this.people.enable(LDAP_ACTOR, person);
      }
      // A disabled person's photo waits: the people setting may have removed their Mail photo on purpose.
      const photoChanged = photoHash !== (row?.photo_hash ?? null) && !entry.disabled;
      let photo: string | null = null;
      let photoProblem: string | null = null;
      if (photoChanged && dryRun) photo = 'would be offered';
      else if (photoChanged) {
        try {
          const received = await this.photos.receive(person, entry.photo, 'ldap');
          photo = received.outcome;
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          photo = 'rejected';
          photoProblem = `the photo was not used: ${error.message}`;
        }
      }
      if (!dryRun) {
        await this.store.save({
          stable_id: entry.stableId,
          person_id: person.id,
          dn: entry.dn,
          changed_at: entry.changedAt,
          values_hash: valuesHash,
          // A disabled entry's photo is looked at again once it is enabled.
          photo_hash: entry.disabled ? (row?.photo_hash ?? null) : photoHash,
          state,
          synced_at: this.now().toISOString(),
        });
      }
      const resultItem = result(item, outcome, photo, joined(reason, photoProblem));
      return photoProblem ? { ...resultItem, failed: true } : resultItem;
    } catch (error) {
      if (error instanceof AppError)
        return { item, outcome: 'failed', failed: true, reason: `${entry.dn}: ${error.message}`, detail: null };
      this.options.log.warn(
        { err: error, dn: entry.dn, userPrincipalName: entry.userPrincipalName },
        'syncing a directory entry failed unexpectedly',
      );
      return {
        item,
        outcome: 'failed',
        failed: true,
        reason: `${entry.dn}: unexpected error: ${error instanceof Error ? error.message : String(error)}`,
        detail: null,
      };
    }
  }

  private async disableVanished(row: Pick<LdapEntryRow, 'stable_id' | 'person_id' | 'state'>, dryRun: boolean): Promise<BulkRunItem> {
    const person = await this.directory.findPersonFresh(row.person_id);
    const item = person?.userPrincipalName ?? row.person_id;
    try {
      if (!dryRun) {
        if (person?.enabled) await this.people.disable(LDAP_ACTOR, person, { reason: 'no longer in the LDAP directory' });
        await this.store.setState(row.stable_id, 'vanished', this.now());
      }
      return result(item, person?.enabled ? 'disabled' : 'unchanged', null, 'no longer in the directory');
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      return {
        item,
        outcome: 'failed',
        failed: true,
        reason: `no longer in the directory, but could not be disabled: ${error.message}`,
        detail: null,
      };
    }
  }

  /**
   * The scheduled sync: every tick looks whether LDAP_SYNC_INTERVAL_MINUTES have passed since the
   * last one in any process (a compare-and-set in the settings table), and runs it here if so.
   */
  async runIfDue(): Promise<DirectorySyncReport | undefined> {
    const config = this.config;
    if (!config || config.intervalMinutes === 0) return undefined;
    if (!(await this.store.claimScheduledTurn(config.intervalMinutes * 60_000, this.now()))) return undefined;
    const { report } = await this.start(LDAP_ACTOR, { dryRun: false, label: 'Scheduled directory sync' });
    const finished = await report;
    this.options.log.info(
      { runId: finished.runId, counts: finished.counts, photosImported: finished.photosImported, error: finished.error },
      'scheduled directory sync ended',
    );
    return finished;
  }

  /** Server processes tick; commands do not. */
  startSchedule(): void {
    if (!this.config || this.config.intervalMinutes === 0 || this.ticker) return;
    this.ticker = setInterval(() => {
      if (this.scheduledRun) return;
      this.scheduledRun = this.runIfDue()
        .catch((error: unknown) =>
          this.options.log.warn({ err: error }, 'the scheduled directory sync could not start; the next tick tries again'),
        )
        .finally(() => (this.scheduledRun = undefined));
    }, this.options.tickIntervalMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    this.ticker = undefined;
    await this.scheduledRun;
  }
}

/** Records a run's items page by page, keeping its total one ahead until the end. */
class RunProgress {
  private recorded = 0;

  constructor(
    private readonly runs: BulkRuns,
    private readonly runId: string,
    private expected: number,
  ) {}

  /** False when the run was cancelled meanwhile (its items are no longer recorded). */
  async record(items: readonly BulkRunItem[]): Promise<boolean> {
    if (this.recorded + items.length >= this.expected) {
      this.expected = this.recorded + items.length + 1;
    }
    await this.runs.setTotal(this.runId, this.expected);
    // In slices: a page may hold up to 10,000 entries, more values than one statement may bind.
    for (let i = 0; i < items.length; i += RECORD_SLICE) await this.runs.recordItems(this.runId, items.slice(i, i + RECORD_SLICE));
    this.recorded += items.length;
    return this.runs.isRunning(this.runId);
  }
}

function result(item: string, outcome: DirectoryOutcome, photo: string | null = null, reason: string | null = null): BulkRunItem {
  return { item, outcome, failed: false, reason, detail: photo };
}

function skipped(item: string, reason: string): BulkRunItem {
  return { item, outcome: 'skipped', failed: true, reason, detail: null };
}

function joined(a: string | null, b: string | null): string | null {
  return [a, b].filter(Boolean).join('; ') || null;
}

function describeChanges(person: Person, changes: { displayName?: string; mail?: string | null }): string {
  return [
    ...(changes.displayName !== undefined ? [`display name "${person.displayName}" → "${changes.displayName}"`] : []),
    ...(changes.mail !== undefined ? [`mail ${person.mail ?? '(none)'} → ${changes.mail ?? '(none)'}`] : []),
  ].join('; ');
}
