import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type DatabaseKind = 'sqlite' | 'postgres';

const ADMIN_URL = process.env.PHOTOSYNC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REQUIRED = process.env.PHOTOSYNC_REQUIRE_POSTGRES === '1';

async function probePostgres(): Promise<string | undefined> {
  // Patient: on a loaded machine a local connection took over 2 s; where no server runs the refusal is immediate.
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 15_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    const why = `PostgreSQL is not reachable at ${ADMIN_URL} (${(error as Error).message})`;
    if (REQUIRED) throw new Error(`${why}, and PHOTOSYNC_REQUIRE_POSTGRES=1 makes PostgreSQL tests required`);
    return `${why}; PostgreSQL tests are skipped (CI sets PHOTOSYNC_REQUIRE_POSTGRES=1 to require them)`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Why PostgreSQL tests are skipped on this machine, or undefined when they run. */
export const postgresSkipReason = await probePostgres();
if (postgresSkipReason) console.log(`# ${postgresSkipReason}`);

/** Each suite that runs "on both databases" loops over this. */
export const DATABASE_KINDS: { kind: DatabaseKind; skip: string | false }[] = [
  { kind: 'sqlite', skip: false },
  { kind: 'postgres', skip: postgresSkipReason ?? false },
];

/** A fresh, empty PostgreSQL database for one test app; dropped again by the returned function. */
export async function createScratchPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `photosync_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: async () => {
      const client = new pg.Client({ connectionString: ADMIN_URL });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
