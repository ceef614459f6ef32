import type { Transaction } from 'kysely';
import type { Schema } from './schema.ts';

/**
 * Takes the person's row lock as a transaction's first statement: writers for one person queue up
 * on PostgreSQL, and on SQLite the transaction holds the write lock from the start (no deadlock
 * from upgrading a read lock). The write changes nothing.
 */
export async function lockPersonRow(trx: Transaction<Schema>, personId: string): Promise<void> {
  await trx.updateTable('people').set({ id: personId }).where('id', '=', personId).execute();
}
