import { describeActor, type AuditLog } from '../audit/index.ts';
import { BulkRun, forEachWithConcurrency, type BulkRunRegistry } from '../bulk-run.ts';
import type { DirectoryService, Person } from '../directory/index.ts';
import { Forbidden } from '../errors.ts';
import { isAdmin, type Actor } from '../identity/index.ts';
import type { SyncEngine, SyncResult } from './sync-engine.ts';
import type { SyncSettings, SyncSettingsStore } from './sync-settings.ts';
import { validateSyncSettings } from './sync-settings.ts';
import type { SyncState, SyncRun, SyncTrigger, SyncStateKind } from './sync-state.ts';
import type { PersonSyncStatus, SyncStatusQuery, SyncStatusStore } from './sync-status-store.ts';

function assertAdmin(actor: Actor): void {
  if (!isAdmin(actor)) throw new Forbidden('Only an admin can see and manage the sync of other people.');
}

function forcedTrigger(actor: Actor): SyncTrigger {
  return actor.kind === 'operator' ? 'cli' : 'admin';
}

/** What admins can see and do about the sync: settings, everyone's state, and forced syncs. */
export class SyncAdministration {
  constructor(
    private readonly engine: SyncEngine,
    private readonly directory: DirectoryService,
    private readonly settings: SyncSettingsStore,
    private readonly status: SyncStatusStore,
    private readonly runs: BulkRunRegistry,
    private readonly audit: AuditLog,
    private readonly concurrency: number,
  ) {}

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
    return this.engine.syncProfilePhoto(person, forcedTrigger(actor));
  }

  /**
   * Syncs everyone (or only the out-of-date) in the background with bounded concurrency; the
   * returned run reports progress and can be cancelled. One person's failure never stops the others.
   */
  async startSyncAll(actor: Actor, options: { staleOnly: boolean }): Promise<BulkRun> {
    assertAdmin(actor);
    const personIds = options.staleOnly ? await this.status.listOutOfDate(Number.MAX_SAFE_INTEGER) : await this.status.listEnabledPersonIds();
    const who = describeActor(actor);
    const run = this.runs.start('sync', options.staleOnly ? 'Sync the out-of-date people' : 'Sync everyone', who.name, personIds.length);
    await this.audit.record({ actor: who, action: 'sync.force', detail: `${options.staleOnly ? 'out-of-date people' : 'everyone'}: ${personIds.length}`, ip: actor.ip ?? null });
    const trigger = forcedTrigger(actor);
    void forEachWithConcurrency(personIds, this.concurrency, run.signal, async (personId) => {
      try {
        const person = await this.directory.findPerson(personId);
        if (!person) return run.itemDone({ item: personId, failure: 'The person no longer exists.' });
        const result = await this.engine.syncProfilePhoto(person, trigger);
        run.itemDone({ item: person.userPrincipalName, failure: result.outcome === 'failed' ? result.error ?? 'failed' : null });
      } catch (error) {
        // The engine reports failures in its result; this is the unexpected (a lost database connection).
        run.itemDone({ item: personId, failure: `Unexpected error: ${error instanceof Error ? error.message : String(error)}` });
      }
    }).finally(() => run.finish());
    return run;
  }

  listRuns(actor: Actor): BulkRun[] {
    assertAdmin(actor);
    return this.runs.list();
  }

  findRun(actor: Actor, id: string): BulkRun | undefined {
    assertAdmin(actor);
    return this.runs.get(id);
  }
}
