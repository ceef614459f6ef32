import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { sql, type CompiledQuery, type Kysely, type KyselyPlugin } from 'kysely';
import pg from 'pg';
import { buildHttpApp, createServices, type Services } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { Schema } from '../src/storage/index.ts';
import { SyncStatusStore, type SyncStateKind } from '../src/sync/index.ts';
import { mulberry32 } from '../test/support/mutation-fuzzer.ts';
import { createScratchPostgres, median } from './bench-support.ts';

export interface SyncStatusQueryResult {
  dialect: 'sqlite' | 'postgres';
  people: number;
  fillSeconds: number;
  /** `listOutOfDate(1000)` through the service against the same SQL run bare on the driver, medians in ms. */
  outOfDate: { serviceMs: number; bareMs: number; ratio: number; rows: number; runs: number };
  countByState: { serviceMs: number; bareMs: number; counts: Record<SyncStateKind, number> };
  /** The admin's status page through the whole HTTP stack (app.inject, signed-in admin), medians in ms. */
  page: { firstMs: number; failedMs: number; searchMs: number; runs: number };
}

const OUT_OF_DATE_LIMIT = 1000;
const BATCH = 500;
const ADMIN_UPN = 'status-admin@bench.example';
const ADMIN_PASSWORD = 'bench-admin-password-0123456789';

const hex32 = (next: () => number) =>
  Array.from({ length: 4 }, () =>
    Math.floor(next() * 2 ** 32)
      .toString(16)
      .padStart(8, '0'),
  ).join('');

/**
 * `people` people straight into the tables (or, with `allInSync`, everyone in sync), 500 rows a statement and 20 statements a transaction:
 * ~80% with a current Mail photo; Sites profiles ~25% missing (never checked), ~50% in sync, ~20% on
 * another ETag (out of date), ~5% with the last sync failed.
 */
export async function fillPeople(db: Kysely<Schema>, people: number, options: { allInSync?: boolean } = {}): Promise<void> {
  // The same mix of states on every run.
  const next = mulberry32(20240611);
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  for (let start = 0; start < people; start += BATCH * 20) {
    await db.transaction().execute(async (trx) => {
      for (let from = start; from < Math.min(people, start + BATCH * 20); from += BATCH) {
        const personRows: Schema['people'][] = [];
        const versionRows: Schema['photo_versions'][] = [];
        const profileRows: Schema['site_profiles'][] = [];
        for (let i = from; i < Math.min(people, from + BATCH); i++) {
          const id = randomUUID();
          const upn = `user${i}@bench.example`;
          const created = iso(now - 90 * 86_400_000 + i * 1000);
          personRows.push({
            id,
            user_principal_name: upn,
            upn_key: upn,
            mail: upn,
            mail_key: upn,
            display_name: `User ${i}`,
            enabled: 1,
            role: 'user',
            password_hash: null,
            must_change_password: 0,
            directory_photo: null,
            created_at: created,
            updated_at: created,
          });
          let etag: string | null = null;
          if (next() < 0.8) {
            etag = hex32(next);
            versionRows.push({
              id: randomUUID(),
              person_id: id,
              etag,
              width: 648,
              height: 648,
              sizes: '648,48',
              source: 'import',
              set_by_id: null,
              created_at: created,
              state: 'current',
              ended_at: null,
            });
          }
          // allInSync: everyone checked and level with Mail (a bulk sync is then all ETag compares).
          const kind = options.allInSync ? 0.5 : next();
          if (kind < 0.25) continue; // never checked: no row
          const checked = iso(now - Math.floor(next() * 30 * 86_400_000));
          const profile: Schema['site_profiles'] = {
            person_id: id,
            synced_etag: etag,
            picture_timestamp: String(Math.floor(Date.parse(checked) / 1000)),
            last_checked_at: checked,
            last_synced_at: checked,
            last_error: null,
            last_error_at: null,
            last_trigger: 'scheduled',
          };
          if (kind >= 0.75 && kind < 0.95) profile.synced_etag = hex32(next);
          if (kind >= 0.95) {
            profile.last_error = 'bench: Mail did not answer';
            profile.last_error_at = checked;
          }
          profileRows.push(profile);
        }
        await trx.insertInto('people').values(personRows).execute();
        if (versionRows.length) await trx.insertInto('photo_versions').values(versionRows).execute();
        if (profileRows.length) await trx.insertInto('site_profiles').values(profileRows).execute();
      }
    });
  }
}

/** The SQL a store call sends, compiled by the app's own Kysely (its dialect, its parameters). */
async function capturedSql(db: Kysely<Schema>, call: (store: SyncStatusStore) => Promise<unknown>): Promise<CompiledQuery> {
  let captured: CompiledQuery | undefined;
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      captured = db.getExecutor().compileQuery(args.node, args.queryId);
      return args.node;
    },
    async transformResult(args) {
      return args.result;
    },
  };
  await call(new SyncStatusStore(db.withPlugin(plugin)));
  if (!captured) throw new Error('the store sent no query');
  return captured;
}

async function timeMs(work: () => Promise<unknown> | unknown): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** A bare runner of a compiled query: better-sqlite3 on the same file (read-only), or one pg client. */
interface BareRunner {
  prepare(query: CompiledQuery): () => Promise<unknown[]> | unknown[];
  close(): Promise<void>;
}

function bareSqlite(file: string): BareRunner {
  const connection = new SQLite(file, { readonly: true });
  return {
    prepare(query) {
      const statement = connection.prepare(query.sql);
      const parameters = [...query.parameters];
      return () => statement.all(parameters);
    },
    async close() {
      connection.close();
    },
  };
}

async function barePostgres(url: string): Promise<BareRunner> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    prepare(query) {
      const parameters = [...query.parameters];
      return async () => (await client.query(query.sql, parameters)).rows;
    },
    async close() {
      await client.end();
    },
  };
}

async function signIn(app: FastifyInstance): Promise<string> {
  const cookiesOf = (response: LightMyRequestResponse) => {
    const header = response.headers['set-cookie'];
    const list = Array.isArray(header) ? header : header ? [header] : [];
    return list.map((c) => c.split(';')[0]!).join('; ');
  };
  const form = await app.inject({ method: 'GET', url: '/signin' });
  const csrfCookie = cookiesOf(form);
  const csrfToken = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1];
  if (!csrfToken) throw new Error(`the sign-in form has no _csrf field (${form.statusCode})`);
  const response = await app.inject({
    method: 'POST',
    url: '/signin',
    headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ _csrf: csrfToken, username: ADMIN_UPN, password: ADMIN_PASSWORD }).toString(),
  });
  if (response.statusCode !== 303) throw new Error(`sign-in failed: ${response.statusCode} ${response.body.slice(0, 500)}`);
  return [csrfCookie, cookiesOf(response)].filter(Boolean).join('; ');
}

/**
 * The sync status read model over `people` people: the scheduled sweep's query against the same
 * SQL run bare, the per-state counts, and the admin's status page.
 */
export async function benchSyncStatusQuery(options: {
  people: number;
  runs?: number;
  pageRuns?: number;
  databaseUrl?: string;
}): Promise<SyncStatusQueryResult> {
  const runs = options.runs ?? 30;
  const pageRuns = options.pageRuns ?? 10;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-status-'));
  let services: Services | undefined;
  let app: FastifyInstance | undefined;
  let bare: BareRunner | undefined;
  try {
    services = await createServices(
      loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...(options.databaseUrl && { DATABASE_URL: options.databaseUrl }) }),
    );
    const { db, dialect } = services.database;
    const fillStarted = performance.now();
    await fillPeople(db, options.people);
    // PostgreSQL's autovacuum would analyze the new tables within a minute; SQLite is never analyzed
    // by the app, so it is measured without statistics, as it runs in production.
    if (dialect === 'postgres') await sql`analyze`.execute(db);
    const fillSeconds = (performance.now() - fillStarted) / 1000;

    bare = dialect === 'sqlite' ? bareSqlite(services.config.sqliteFile) : await barePostgres(options.databaseUrl!);

    // (a) against (b): alternating, after a warm-up of each, so drift hits both alike.
    const outOfDateSql = await capturedSql(db, (store) => store.listOutOfDate(OUT_OF_DATE_LIMIT));
    const bareOutOfDate = bare.prepare(outOfDateSql);
    const syncStatus = services.syncStatus;
    let rows = 0;
    for (let i = 0; i < 3; i++) {
      rows = (await syncStatus.listOutOfDate(OUT_OF_DATE_LIMIT)).length;
      const bareRows = (await bareOutOfDate()).length;
      if (bareRows !== rows) throw new Error(`the bare query found ${bareRows} rows, the service ${rows}`);
    }
    const serviceTimes: number[] = [];
    const bareTimes: number[] = [];
    for (let i = 0; i < runs; i++) {
      serviceTimes.push(await timeMs(() => syncStatus.listOutOfDate(OUT_OF_DATE_LIMIT)));
      bareTimes.push(await timeMs(bareOutOfDate));
    }

    // (c) the per-state counts (the status page and the metrics both ask for them).
    const countSql = await capturedSql(db, (store) => store.countByState());
    const bareCount = bare.prepare(countSql);
    await syncStatus.countByState();
    await bareCount();
    const countTimes: number[] = [];
    const bareCountTimes: number[] = [];
    for (let i = 0; i < Math.max(5, Math.round(runs / 3)); i++) {
      countTimes.push(await timeMs(() => syncStatus.countByState()));
      bareCountTimes.push(await timeMs(bareCount));
    }
    const counts = await syncStatus.countByState();

    // (d) the page, through the whole HTTP stack, as a signed-in admin.
    const passwordHash = await services.identity.hashPassword(ADMIN_PASSWORD);
    await services.directory.addPerson({ userPrincipalName: ADMIN_UPN, role: 'admin', passwordHash });
    app = await buildHttpApp(services);
    await app.ready();
    const cookie = await signIn(app);
    const timePage = async (url: string) => {
      const get = async () => {
        const response = await app!.inject({ method: 'GET', url, headers: { cookie } });
        if (response.statusCode !== 200 || !response.body.includes('Sync status')) {
          throw new Error(`GET ${url} answered ${response.statusCode}: ${response.body.slice(0, 300)}`);
        }
      };
      await get();
      const times: number[] = [];
      for (let i = 0; i < pageRuns; i++) times.push(await timeMs(get));
      return median(times);
    };
    const page = {
      firstMs: await timePage('/admin/sync'),
      failedMs: await timePage('/admin/sync?state=failed'),
      searchMs: await timePage('/admin/sync?q=user12345'),
      runs: pageRuns,
    };

    const serviceMs = median(serviceTimes);
    const bareMs = median(bareTimes);
    return {
      dialect,
      people: options.people,
      fillSeconds,
      outOfDate: { serviceMs, bareMs, ratio: serviceMs / bareMs, rows, runs },
      countByState: { serviceMs: median(countTimes), bareMs: median(bareCountTimes), counts },
      page,
    };
  } finally {
    await bare?.close();
    await app?.close();
    await services?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The same on a scratch PostgreSQL database, dropped afterwards. */
export async function benchSyncStatusQueryPostgres(options: {
  people: number;
  runs?: number;
  pageRuns?: number;
}): Promise<SyncStatusQueryResult> {
  const scratch = await createScratchPostgres();
  try {
    return await benchSyncStatusQuery({ ...options, databaseUrl: scratch.url });
  } finally {
    await scratch.drop();
  }
}
