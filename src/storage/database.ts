import fs from 'node:fs';
import path from 'node:path';
import type SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import { postgresProcesses, singleProcess, type CrossProcess } from './cross-process.ts';
import { migrationsFor } from './migrations.ts';
import type { Schema } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  readonly db: Kysely<Schema>;
  readonly dialect: Dialect;
  /** PostgreSQL only: raw SQL on the same pool, for the job library (pg-boss) so it needs no pool of its own. */
  readonly sqlExecutor?: SqlExecutor;
  /** Locks and change notices shared with the other server processes on the same database. */
  readonly processes: CrossProcess;
  /** Throws when the database cannot answer (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface SqlExecutor {
  executeSql(text: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  sqliteFile: string;
  /** Where connection trouble is logged. */
  log: Logger;
}

/** Opens the configured database and brings its schema up to date. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  // Each driver is loaded only when it is used: a command starts faster without the other one.
  const database = options.databaseUrl
    ? openPostgres((await import('pg')).default, options.databaseUrl, options.log)
    : openSqlite((await import('better-sqlite3')).default, options.sqliteFile);
  try {
    await migrateToLatest(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}

function openSqlite(driver: typeof SQLite, file: string): Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const connection = new driver(file);
  // WAL lets the CLI read and write while the server runs; the busy timeout makes writers wait
  // for each other instead of failing.
  connection.pragma('journal_mode = WAL');
  connection.pragma('busy_timeout = 10000');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: connection }) });
  return wrap(db, 'sqlite', singleProcess());
}

function openPostgres(driver: typeof pg, url: string, log: Logger): Database {
  const pool = new driver.Pool({ connectionString: url, max: 12 });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', (error) => log.warn({ err: error }, 'a connection to PostgreSQL failed; the pool replaces it'));
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  return {
    ...wrap(db, 'postgres', postgresProcesses(driver, url, pool, log)),
    sqlExecutor: { executeSql: (text, values) => pool.query(text, values) },
  };
}

function wrap(db: Kysely<Schema>, dialect: Dialect, processes: CrossProcess): Database {
  return {
    db,
    dialect,
    processes,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await processes.close();
      await db.destroy();
    },
  };
}

async function migrateToLatest(database: Database): Promise<void> {
  const migrator = new Migrator({ db: database.db, provider: migrationsFor(database.dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
