import { describeActor, type AuditLog } from '../audit/index.ts';
import type { BulkProgress, BulkRunKind, BulkRuns } from '../runs/index.ts';
import type { Person } from '../directory/index.ts';
import { NotPermitted } from '../errors.ts';
import { isAdmin, type Actor } from '../identity/index.ts';
import type { SyncEngine, SyncResult } from './sync-engine.ts';
import type { SyncRequests } from './sync-requests.ts';
import type { SyncSettings, SyncSettingsStore } from './sync-settings.ts';
import { validateSyncSettings } from './sync-settings.ts';
import type { SyncState, SyncRun, SyncTrigger, SyncStateKind } from './sync-state.ts';
import type { PersonSyncStatus, SyncStatusQuery, SyncStatusStore } from './sync-status-store.ts';

function assertAdmin(actor: Actor): void {
  if (!isAdmin(actor)) throw new NotPermitted('Only an admin can see and manage the sync of other people.');
}

function forcedTrigger(actor: Actor): SyncTrigger {
  return actor.kind === 'operator' ? 'cli' : 'admin';
}

/** What admins can see and do about the sync: settings, everyone's state, and forced syncs. */
export class SyncAdministration {
  constructor(
    private readonly engine: SyncEngine,
    private readonly requests: SyncRequests,
    private readonly settings: SyncSettingsStore,
    private readonly status: SyncStatusStore,
    private readonly runs: BulkRuns,
    private readonly audit: AuditLog,
    /** After a switch to on-change mode: the people already behind are queued at once. */
    private readonly onModeChanged: (settings: SyncSettings) => Promise<void>,
  ) {}

  /** The rule every method here applies, alone: for refusing a form before its body is read. */
  assertMayAdminister(actor: Actor): void {
    assertAdmin(actor);
  }

  async getSettings(actor: Actor): Promise<SyncSettings> {
    assertAdmin(actor);
    return this.settings.get();
  }

  async changeSettings(actor: Actor, input: { mode: unknown; intervalMinutes: unknown }): Promise<SyncSettings> {
    assertAdmin(actor);
    const next = validateSyncSettings(input);
    const before = await this.settings.get();
    await this.settings.save(next, describeActor(actor).name);
    await this.audit.record({
      actor: describeActor(actor),
      action: 'sync.mode',
      detail: `${before.mode} every ${before.intervalMinutes} min → ${next.mode} every ${next.intervalMinutes} min`,
      ip: actor.ip ?? null,
    });
    if (next.mode !== before.mode) await this.onModeChanged(next);
    return next;
  }

  async countByState(actor: Actor): Promise<Record<SyncStateKind, number>> {
    assertAdmin(actor);
    return this.status.countByState();
  }

  async listStatus(actor: Actor, query: SyncStatusQuery): Promise<PersonSyncStatus[]> {
    assertAdmin(actor);
    return this.status.list(query);
  }

  async personStatus(actor: Actor, person: Person): Promise<{ state: SyncState; history: SyncRun[] }> {
    assertAdmin(actor);
    const [state, history] = await Promise.all([this.engine.getSyncState(person), this.engine.getSyncHistory(person, 20)]);
    return { state, history };
  }

  async syncPerson(actor: Actor, person: Person): Promise<SyncResult> {
    assertAdmin(actor);
    await this.audit.record({
      actor: describeActor(actor),
      action: 'sync.force',
      target: { id: person.id, name: person.userPrincipalName },
      ip: actor.ip ?? null,
    });
    return this.requests.syncNow(person, forcedTrigger(actor));
  }

  /**
   * Syncs everyone (or only the out-of-date): a run in the database and its people as queued jobs,
   * which the workers of every server process take. Returns the run's id; its progress is in the
   * database, it can be cancelled from anywhere, and one person's failure never stops the others.
   * One bulk sync at a time (BulkSyncAlreadyRunning).
   */
  async startSyncAll(actor: Actor, options: { staleOnly: boolean }): Promise<string> {
    assertAdmin(actor);
    const personIds = options.staleOnly
      ? await this.status.listOutOfDate(Number.MAX_SAFE_INTEGER)
      : await this.status.listEnabledPersonIds();
    const who = describeActor(actor);
    const filter = options.staleOnly ? 'out-of-date people' : 'everyone';
    const runId = await this.requests.requestRun(
      { kind: 'sync', label: options.staleOnly ? 'Sync the out-of-date people' : 'Sync everyone', startedBy: who.name, filter },
      personIds,
      forcedTrigger(actor),
    );
    await this.audit.record({ actor: who, action: 'sync.force', detail: `${filter}: ${personIds.length}`, ip: actor.ip ?? null });
    return runId;
  }

  async listRuns(actor: Actor, kind?: BulkRunKind): Promise<BulkProgress[]> {
    assertAdmin(actor);
    return this.runs.list(kind, 20);
  }

  async findRun(actor: Actor, id: string): Promise<BulkProgress | undefined> {
    assertAdmin(actor);
    return this.runs.get(id);
  }

  /** Cancels a running run (a sync or an import) from any process: items in progress finish, the rest are skipped. */
  async cancelRun(actor: Actor, id: string): Promise<void> {
    assertAdmin(actor);
    if (await this.runs.cancel(id))
      await this.audit.record({ actor: describeActor(actor), action: 'run.cancel', detail: id, ip: actor.ip ?? null });
  }
}
