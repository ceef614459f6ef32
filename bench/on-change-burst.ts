import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { CLI_ACTOR } from '../src/identity/index.ts';
import { childEnv, createScratchPostgres, freePort, percentile, sleep, startServerChild, stopChild } from './bench-support.ts';

export interface OnChangeBurstResult {
  dialect: 'sqlite' | 'postgres';
  processes: number;
  changes: number;
  /** All PUTs, first request to last answer. */
  burstSeconds: number;
  /** From a PUT's 200 on the first process to the new photo served by the last one, in ms. */
  lag: { p50Ms: number; p99Ms: number; maxMs: number };
  syncRunsPerChange: number;
  /** PostgreSQL: pg-boss jobs stored per change (a person already waiting is not queued again). */
  jobsPerChange: number | null;
}

const POLL_EVERY_MS = 10;
const GIVE_UP_AFTER_MS = 60_000;
const ADMIN_PASSWORD = 'bench-admin-password-0123456789';

/**
 * A burst of Mail changes in on-change mode: `processes` real servers on one database (one on
 * SQLite), `photos.length` people each getting a new photo through a Graph PUT on the first server
 * with `inFlight` PUTs at a time, and each new photo watched for on the last server's
 * userphoto.aspx (with the person's token, which never triggers a sync itself).
 */
export async function benchOnChangeBurst(options: {
  photos: readonly Buffer[];
  processes: number;
  inFlight: number;
  databaseUrl?: string;
}): Promise<OnChangeBurstResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-burst-'));
  const dbEnv: Record<string, string> = options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {};
  const servers: Awaited<ReturnType<typeof startServerChild>>[] = [];
  try {
    const people: { upn: string; token: string }[] = [];
    const services = await createServices(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...dbEnv }));
    try {
      for (let i = 0; i < options.photos.length; i++) {
        const person = await services.directory.addPerson({ userPrincipalName: `burst${i}@bench.example` });
        people.push({ upn: person.userPrincipalName, token: (await services.identity.createApiToken(CLI_ACTOR, person, 'bench')).token });
      }
    } finally {
      await services.close();
    }
    const ports: number[] = [];
    for (let i = 0; i < options.processes; i++) {
      const port = await freePort();
      ports.push(port);
      servers.push(
        await startServerChild(
          ['--import', 'tsx', 'src/main.ts', 'serve'],
          childEnv({
            DATA_DIR: dataDir,
            SYNC_MODE: 'on-change',
            LOG_LEVEL: 'warn',
            PHOTOSYNC_ADMIN_PASSWORD: ADMIN_PASSWORD,
            HOST: '127.0.0.1',
            PORT: String(port),
            ...dbEnv,
          }),
        ),
      );
    }
    const writer = `http://127.0.0.1:${ports[0]}`;
    const reader = `http://127.0.0.1:${ports.at(-1)}`;
    const sitesEtag = async (who: (typeof people)[number], ifNoneMatch?: string): Promise<string | undefined> => {
      const auth = { authorization: `Bearer ${who.token}` };
      const response = await fetch(`${reader}/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(who.upn)}`, {
        headers: ifNoneMatch ? { ...auth, 'if-none-match': ifNoneMatch } : auth,
      });
      await response.arrayBuffer();
      if (response.status === 304) return ifNoneMatch;
      if (response.status !== 200) throw new Error(`userphoto.aspx answered ${response.status}`);
      return response.headers.get('etag') ?? undefined;
    };
    const before = await Promise.all(people.map((who) => sitesEtag(who)));
    const jobsBefore = await countJobs(options.databaseUrl);

    const lags: number[] = [];
    // The runs of the burst only (the servers' start checked the never-synced people once already).
    const burstStartedAt = new Date().toISOString();
    const watchers: Promise<void>[] = [];
    let next = 0;
    const started = performance.now();
    const putter = async () => {
      for (let i = next++; i < people.length; i = next++) {
        const who = people[i]!;
        const response = await fetch(`${writer}/v1.0/me/photo/$value`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${who.token}`, 'content-type': 'image/jpeg' },
          body: new Uint8Array(options.photos[i]!),
        });
        const body = await response.text();
        if (response.status !== 200) throw new Error(`PUT ${i} answered ${response.status}: ${body}`);
        const committed = performance.now();
        watchers.push(
          (async () => {
            for (;;) {
              if ((await sitesEtag(who, before[i])) !== before[i]) return void lags.push(performance.now() - committed);
              if (performance.now() - committed > GIVE_UP_AFTER_MS)
                throw new Error(`${who.upn}: the new photo did not reach Sites within ${GIVE_UP_AFTER_MS / 1000} s`);
              await sleep(POLL_EVERY_MS);
            }
          })(),
        );
      }
    };
    await Promise.all(Array.from({ length: options.inFlight }, putter));
    const burstSeconds = (performance.now() - started) / 1000;
    await Promise.all(watchers);
    const jobs = options.databaseUrl ? (await countJobs(options.databaseUrl))! - jobsBefore! : null;
    const runs = await countOnChangeRuns(dataDir, options.databaseUrl, burstStartedAt);
    return {
      dialect: options.databaseUrl ? 'postgres' : 'sqlite',
      processes: options.processes,
      changes: people.length,
      burstSeconds,
      lag: { p50Ms: percentile(lags, 50), p99Ms: percentile(lags, 99), maxMs: Math.max(...lags) },
      syncRunsPerChange: runs / people.length,
      jobsPerChange: jobs === null ? null : jobs / people.length,
    };
  } finally {
    for (const server of servers) await stopChild(server.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function countJobs(databaseUrl: string | undefined): Promise<number | null> {
  if (!databaseUrl) return null;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const exists = (await client.query("select to_regclass('pgboss.job') as t")).rows[0].t;
    if (!exists) return 0;
    const { rows } = await client.query(
      "select (select count(*) from pgboss.job where name = 'photosync-sync-requests') + (select count(*) from pgboss.archive where name = 'photosync-sync-requests') as n",
    );
    return Number(rows[0].n);
  } finally {
    await client.end();
  }
}

async function countOnChangeRuns(dataDir: string, databaseUrl: string | undefined, since: string): Promise<number> {
  const services = await createServices(
    loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...(databaseUrl && { DATABASE_URL: databaseUrl }) }),
  );
  try {
    const row = await services.database.db
      .selectFrom('sync_runs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('trigger', '=', 'on-change')
      .where('started_at', '>=', since)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  } finally {
    await services.close();
  }
}

export async function benchOnChangeBurstPostgres(
  photos: readonly Buffer[],
  processes: number,
  inFlight: number,
): Promise<OnChangeBurstResult> {
  const scratch = await createScratchPostgres();
  try {
    return await benchOnChangeBurst({ photos, processes, inFlight, databaseUrl: scratch.url });
  } finally {
    await scratch.drop();
  }
}
