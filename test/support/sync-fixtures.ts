import { sql } from 'kysely';
import type { Person } from '../../src/directory/index.ts';
import type { BulkProgress } from '../../src/runs/index.ts';
import type { TestApp } from './test-app.ts';

/**
 * Breaks a person's stored Mail photo in the database (its largest rendition becomes junk), so the
 * next sync of that person fails the way a damaged store would make it fail.
 */
export async function corruptMailPhoto(t: TestApp, person: Person): Promise<void> {
  const db = t.services.database.db;
  const version = await db
    .selectFrom('photo_versions')
    .select('id')
    .where('person_id', '=', person.id)
    .where('state', '=', 'current')
    .executeTakeFirstOrThrow();
  await db
    .updateTable('photo_renditions')
    .set({ bytes: Buffer.from('this is not an image') })
    .where('version_id', '=', version.id)
    .execute();
}

/** Polls until the check returns a value (not undefined/false) or the time is up. */
export async function waitFor<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every row of the tables a photo change or import could touch, to compare before and after. */
export async function snapshotPhotoTables(t: TestApp): Promise<string> {
  const db = t.services.database.db;
  const tables = ['people', 'photo_versions', 'photo_renditions', 'site_profiles', 'site_thumbnails', 'sync_runs', 'audit_log'] as const;
  const parts: string[] = [];
  for (const table of tables) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
    const lines = rows.rows
      .map((row) => JSON.stringify(row, (_key, value) => (value?.type === 'Buffer' ? Buffer.from(value.data).toString('base64') : value)))
      .sort();
    parts.push(`${table}:${lines.join('\n')}`);
  }
  return parts.join('\n\n');
}

/** Waits until a bulk run is over (its jobs are taken by the app's workers) and returns its progress. */
export async function runOutcome(t: TestApp, runId: string, timeoutMs = 30_000): Promise<BulkProgress> {
  return waitFor(
    async () => {
      const progress = await t.services.runs.get(runId);
      return progress && progress.status !== 'running' ? progress : undefined;
    },
    timeoutMs,
    `run ${runId} to end`,
  );
}
