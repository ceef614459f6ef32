import type { Kysely } from 'kysely';
import type { Schema } from './schema.ts';

/**
 * A piece of periodic work's turn, claimed with one compare-and-set on a `settings` row (the time
 * it last ran): across processes (and a double tick) exactly one claim succeeds per interval.
 */
export async function claimIntervalTurn(
  db: Kysely<Schema>,
  key: string,
  options: { intervalMs: number; now: Date; by: string },
): Promise<boolean> {
  const { intervalMs, now } = options;
  // A little slack, so a tick that comes a moment early does not skip a whole interval.
  const dueBefore = new Date(now.getTime() - intervalMs + Math.min(5_000, intervalMs / 4)).toISOString();
  const row = { key, value: now.toISOString(), updated_at: now.toISOString(), updated_by: options.by };
  const inserted = await db
    .insertInto('settings')
    .values(row)
    .onConflict((oc) => oc.column('key').doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return true;
  const updated = await db
    .updateTable('settings')
    .set({ value: row.value, updated_at: row.updated_at })
    .where('key', '=', key)
    .where('value', '<=', dueBefore)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}
