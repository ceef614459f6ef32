import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../storage/index.ts';
import type { SyncRun } from './sync-state.ts';

/** The history of sync runs, for the person's info page and the admin views. */
export class SyncRunStore {
  constructor(private readonly db: Kysely<Schema>) {}

  /** Inside the Sites swap's transaction when the run made one. */
  async insert(run: SyncRun, db: Kysely<Schema> | Transaction<Schema> = this.db): Promise<void> {
    await db
      .insertInto('sync_runs')
      .values({
        id: run.id,
        person_id: run.personId,
        trigger: run.trigger,
        result: run.outcome,
        error: run.error,
        mail_etag: run.mailEtag,
        started_at: run.startedAt,
        duration_ms: Math.round(run.durationMs),
      })
      .execute();
  }

  async listForPerson(personId: string, limit: number): Promise<SyncRun[]> {
    const rows = await this.db
      .selectFrom('sync_runs')
      .selectAll()
      .where('person_id', '=', personId)
      .orderBy('started_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      personId: r.person_id,
      trigger: r.trigger as SyncRun['trigger'],
      outcome: r.result as SyncRun['outcome'],
      error: r.error,
      mailEtag: r.mail_etag,
      startedAt: r.started_at,
      durationMs: r.duration_ms,
    }));
  }
}
