import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { SqlExecutor } from './database.ts';
import type { Schema } from './schema.ts';

/**
 * Raw SQL through a Kysely connection, for the job library (pg-boss): given a transaction, a job is
 * written in that transaction and commits or rolls back with the change that asked for it.
 */
export function sqlExecutorFor(db: Kysely<Schema> | Transaction<Schema>): SqlExecutor {
  return {
    async executeSql(text, values) {
      const result = await db.executeQuery(CompiledQuery.raw(text, values));
      return { rows: result.rows as Record<string, unknown>[] };
    },
  };
}
