import type { Kysely } from 'kysely';
import type { Schema, SqlExecutor } from '../storage/index.ts';
import type { QueueOptions, SyncJobHandler, SyncJobQueue } from './sync-job-queue.ts';

/**
 * The queue for this database: pg-boss (loaded only then) when there is PostgreSQL to share jobs
 * through, else the embedded table.
 */
export async function createSyncJobQueue(
  db: Kysely<Schema>,
  executor: SqlExecutor | undefined,
  handler: SyncJobHandler,
  options: QueueOptions,
): Promise<SyncJobQueue> {
  if (!executor) {
    const { SqliteSyncQueue } = await import('./sqlite-sync-queue.ts');
    return new SqliteSyncQueue(db, handler, options);
  }
  const { PgBossSyncQueue } = await import('./pg-boss-sync-queue.ts');
  return PgBossSyncQueue.create(executor, handler, options);
}
