/**
 * `npm run load`: the real server under a mixed load — thumbnail reads, Graph reads and an upload
 * flood at once — then the thumbnail reads alone, for comparison.
 *
 * The server runs as a child process (`node --import tsx src/main.ts serve`) on a fresh SQLite
 * DATA_DIR seeded beforehand; autocannon drives it from this process, one instance per route so each
 * route has its own latencies, all to 127.0.0.1 only. Passes when no request errs, the only non-2xx
 * are planned 503s (with Retry-After) on uploads, and the thumbnail reads' p99 under the flood stays
 * under the goal. Exit code 1 otherwise.
 *
 * Knobs (environment):
 *   LOAD_SECONDS (60), LOAD_ALONE_SECONDS (10), LOAD_WARMUP_SECONDS (3)   phase lengths
 *   LOAD_THUMB_CONNECTIONS (40), LOAD_GRAPH_CONNECTIONS (10), LOAD_UPLOAD_CONNECTIONS (14)
 *   LOAD_PEOPLE (50), LOAD_UPLOADERS (10), LOAD_UPLOAD_PHOTOS (4), LOAD_PHOTOS (phone | light)
 *   LOAD_THUMB_P99_GOAL_MS (50), LOAD_THUMB_AUTH (auto | anonymous | token)
 *   LOAD_RENICE_SERVER_WORKERS (unset; an experiment: nice value for the server's non-event-loop threads)
 *   IMAGE_CONCURRENCY, UPLOAD_QUEUE_LENGTH, UV_THREADPOOL_SIZE   passed on to the server when set
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { CLI_ACTOR } from '../src/identity/index.ts';
import { freePort, percentile, stopChild } from './bench-support.ts';
import { generateCameraPhotos, withJpegComment } from './bench-photos.ts';
import { generatePhoneCameraPhotos, seedPortrait } from './load-photos.ts';
import {
  cpuSnapshot,
  cpuUse,
  gauge,
  machineCpuSeconds,
  ownSchedstat,
  reniceWorkerThreads,
  RssPoller,
  scrapeMetrics,
  serverRouteTimes,
  startLoadServer,
  summarizeLog,
  type CpuUse,
  type MetricSample,
} from './load-server.ts';

const env = process.env;
const int = (name: string, fallback: number, min = 0) => {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number ≥ ${min} (got "${raw}")`);
  return value;
};

const SECONDS = int('LOAD_SECONDS', 60, 1);
const ALONE_SECONDS = int('LOAD_ALONE_SECONDS', 10, 0);
const WARMUP_SECONDS = int('LOAD_WARMUP_SECONDS', 3, 0);
const THUMB_CONNECTIONS = int('LOAD_THUMB_CONNECTIONS', 40, 1);
const GRAPH_CONNECTIONS = int('LOAD_GRAPH_CONNECTIONS', 10, 0);
// More than the server's image slots plus its waiting line (2 + 8 on 2 cores): a flood, so the planned 503s happen.
const UPLOAD_CONNECTIONS = int('LOAD_UPLOAD_CONNECTIONS', 14, 0);
const PEOPLE = int('LOAD_PEOPLE', 50, 1);
const UPLOADERS = Math.min(PEOPLE, int('LOAD_UPLOADERS', 10, 1));
const UPLOAD_PHOTOS = int('LOAD_UPLOAD_PHOTOS', 4, 1);
const PHOTO_KIND = env.LOAD_PHOTOS?.trim() || 'phone';
const THUMB_P99_GOAL_MS = int('LOAD_THUMB_P99_GOAL_MS', 50, 1);
/** An experiment: nice value for the server's threads other than the event loop (unset: left alone). */
const RENICE = env.LOAD_RENICE_SERVER_WORKERS?.trim() ? int('LOAD_RENICE_SERVER_WORKERS', 0, 1) : undefined;
const THUMB_AUTH = env.LOAD_THUMB_AUTH?.trim() || 'auto';
if (!['auto', 'anonymous', 'token'].includes(THUMB_AUTH))
  throw new Error(`LOAD_THUMB_AUTH must be auto, anonymous or token (got "${THUMB_AUTH}")`);
/** Set by the preflight: the server asks for a sign-in to read thumbnails. */
let thumbnailsWithToken = false;
const HOST = '127.0.0.1'; // the only address this test sends traffic to
const SERVER_KNOBS = ['IMAGE_CONCURRENCY', 'UPLOAD_QUEUE_LENGTH', 'UV_THREADPOOL_SIZE'] as const;
if (PHOTO_KIND !== 'phone' && PHOTO_KIND !== 'light') throw new Error(`LOAD_PHOTOS must be phone or light (got "${PHOTO_KIND}")`);

// Graph reads: about two thirds fetch 48×48 bytes, the rest the /photo metadata.
const GRAPH_BYTES_CONNECTIONS = Math.round(GRAPH_CONNECTIONS * 0.7);
const GRAPH_META_CONNECTIONS = GRAPH_CONNECTIONS - GRAPH_BYTES_CONNECTIONS;
const TOTAL_CONNECTIONS = THUMB_CONNECTIONS + GRAPH_CONNECTIONS + UPLOAD_CONNECTIONS;

// ---------------------------------------------------------------------------------------------------
// Cleanup and the time bound: the server is killed and the scratch directory removed on every way out.

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-load-'));
let server: ChildProcess | undefined;
let rss: RssPoller | undefined;
const cleanUp = () => {
  rss?.stop();
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
};
const budgetSeconds = WARMUP_SECONDS + SECONDS + ALONE_SECONDS + 300;
setTimeout(() => {
  console.error(`\nFAIL: the load test ran past its time bound of ${budgetSeconds} s; stopping.`);
  cleanUp();
  process.exit(1);
}, budgetSeconds * 1000).unref();
process.once('exit', cleanUp); // also after an uncaught error: never leave the server running
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------------
// Per-route statistics, from autocannon's response events (autocannon's own histogram mixes 2xx
// and 503 latencies; these are kept apart).

class RouteStats {
  readonly okLatencies: number[] = [];
  readonly otherLatencies: number[] = [];
  readonly statuses = new Map<number, number>();
  errors = 0;
  timeouts = 0;
  readonly errorSamples = new Set<string>();
  retryAfterMissing = 0;
  readonly retryAfterValues = new Set<string>();
  seconds = 0;

  constructor(
    readonly label: string,
    readonly connections: number,
    /** Non-2xx statuses this route may answer under load. */
    readonly planned: readonly number[] = [],
  ) {}

  get answered(): number {
    let n = 0;
    for (const count of this.statuses.values()) n += count;
    return n;
  }

  get ok(): number {
    let n = 0;
    for (const [status, count] of this.statuses) if (status >= 200 && status < 300) n += count;
    return n;
  }

  unplanned(): [number, number][] {
    return [...this.statuses].filter(([status]) => (status < 200 || status >= 300) && !this.planned.includes(status));
  }
}

interface RouteLoad {
  stats: RouteStats;
  method: 'GET' | 'PUT';
  next(): { path: string; headers: Record<string, string>; body?: Buffer };
  /** Checks each response's headers (only where needed: it costs the generator time per response). */
  onResponse?: (status: number, headers: Record<string, string | string[] | undefined>) => void;
}

function runRoute(port: number, seconds: number, route: RouteLoad): Promise<void> {
  const { stats } = route;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://${HOST}:${port}`,
        connections: stats.connections,
        duration: seconds,
        timeout: 10,
        requests: [
          {
            method: route.method,
            setupRequest: (request) => {
              const next = route.next();
              return {
                ...request,
                path: next.path,
                headers: { ...request.headers, ...next.headers },
                ...(next.body && { body: next.body }),
              };
            },
            ...(route.onResponse && {
              onResponse: (
                status: number,
                _body: string,
                _context: object,
                headers: Record<string, string | string[] | undefined> | undefined,
              ) => route.onResponse!(status, headers ?? {}),
            }),
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        stats.errors += result.errors;
        stats.timeouts += result.timeouts;
        stats.seconds += result.duration;
        resolve();
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
      (status >= 200 && status < 300 ? stats.okLatencies : stats.otherLatencies).push(ms);
    });
    instance.on('reqError', (error: Error) => {
      if (stats.errorSamples.size < 5) stats.errorSamples.add(String(error?.message ?? error));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Setup: test photos, the seeded database, the server.

const started = performance.now();
console.log(
  `photosync load test — node ${process.version}, ${os.availableParallelism()} cores; ` +
    `mixed ${SECONDS} s (${TOTAL_CONNECTIONS} connections), thumbnails alone ${ALONE_SECONDS} s; traffic to ${HOST} only`,
);

const rawUploadPhotos = PHOTO_KIND === 'phone' ? await generatePhoneCameraPhotos(UPLOAD_PHOTOS) : await generateCameraPhotos(UPLOAD_PHOTOS);
const averageMb = rawUploadPhotos.reduce((sum, p) => sum + p.length, 0) / rawUploadPhotos.length / 1024 / 1024;
console.log(
  `Upload photos: ${UPLOAD_PHOTOS} × 12 MP JPEG (${PHOTO_KIND === 'phone' ? 'phone-camera grain' : "bench-photos' generateCameraPhotos"}), ` +
    `avg ${averageMb.toFixed(2)} MB; every upload made distinct by a JPEG comment (a new Mail version each time)`,
);

const people: { upn: string; token?: string }[] = [];
{
  const seedStarted = performance.now();
  const services = await createServices(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
  try {
    for (let i = 0; i < PEOPLE; i++) {
      const person = await services.directory.addPerson({ userPrincipalName: `person${i}@load.example`, displayName: `Load Person ${i}` });
      await services.mail.setPhoto(CLI_ACTOR, person, await seedPortrait(i), 'cli');
      const synced = await services.sync.syncProfilePhoto(person, 'admin');
      const thumbnail = await services.sites.getThumbnail(person, 'L');
      if (thumbnail.placeholder)
        throw new Error(`seeding: ${person.userPrincipalName} has no synced Sites photo (${JSON.stringify(synced)})`);
      const token = i < UPLOADERS ? (await services.identity.createApiToken(CLI_ACTOR, person, 'load')).token : undefined;
      people.push({ upn: person.userPrincipalName, ...(token && { token }) });
    }
  } finally {
    await services.close();
  }
  console.log(
    `Seeded ${PEOPLE} people (Mail photo 400–800 px, Sites S/M/L synced) and ${UPLOADERS} uploaders with API tokens in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`,
  );
}
const tokens = people.flatMap((p) => (p.token ? [p.token] : []));

const port = await freePort();
const base = `http://${HOST}:${port}`;
const logFile = path.join(dataDir, 'server.log');
const knobs = Object.fromEntries(SERVER_KNOBS.flatMap((name) => (env[name]?.trim() ? [[name, env[name]!.trim()]] : [])));
// /metrics answers only this bearer token (or an admin): the load test scrapes it like Prometheus.
const metricsToken = randomBytes(24).toString('hex');
server = await startLoadServer({
  logFile,
  env: {
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST,
    LOG_LEVEL: 'warn',
    PHOTOSYNC_ADMIN_PASSWORD: 'load-test-admin-password-0123',
    METRICS_TOKEN: metricsToken,
    ...knobs,
  },
});
const serverPid = server.pid!;
rss = new RssPoller(serverPid);
const renice = RENICE === undefined ? undefined : reniceWorkerThreads(serverPid, RENICE);
const cores = os.availableParallelism();
console.log(
  `Server pid ${serverPid} on ${base} (LOG_LEVEL=warn, log to a file): ` +
    `IMAGE_CONCURRENCY=${knobs.IMAGE_CONCURRENCY ?? `${cores} (default)`}, UPLOAD_QUEUE_LENGTH=${knobs.UPLOAD_QUEUE_LENGTH ?? `${4 * cores} (default)`}, ` +
    `UV_THREADPOOL_SIZE=${knobs.UV_THREADPOOL_SIZE ?? '4 (default)'}`,
);

// ---------------------------------------------------------------------------------------------------
// The routes.

let uploadCounter = 0;
const nextUploadBody = () => {
  const n = uploadCounter++;
  return { n, body: withJpegComment(rawUploadPhotos[n % rawUploadPhotos.length]!, `photosync load upload ${n} ${process.pid}`) };
};
const uploadHeaders = (n: number) => ({ authorization: `Bearer ${tokens[n % tokens.length]}`, 'content-type': 'image/jpeg' });

function thumbnailRoute(connections: number): RouteLoad {
  let i = 0;
  return {
    stats: new RouteStats(`thumbnails  GET userphoto.aspx?size=S|M|L (${thumbnailsWithToken ? 'bearer token' : 'anonymous'})`, connections),
    method: 'GET',
    next: () => {
      const n = i++;
      const person = people[n % people.length]!;
      const size = 'SML'[Math.floor(n / people.length) % 3]!;
      const headers: Record<string, string> = thumbnailsWithToken ? { authorization: `Bearer ${tokens[n % tokens.length]}` } : {};
      return { path: `/_layouts/15/userphoto.aspx?size=${size}&accountname=${encodeURIComponent(person.upn)}`, headers };
    },
  };
}

function graphRoute(connections: number, kind: 'bytes' | 'metadata'): RouteLoad {
  let i = 0;
  return {
    stats: new RouteStats(
      kind === 'bytes' ? 'graph       GET users/{upn}/photos/48x48/$value' : 'graph       GET users/{upn}/photo (metadata)',
      connections,
    ),
    method: 'GET',
    next: () => {
      const n = i++;
      const person = people[(n * 7) % people.length]!;
      const suffix = kind === 'bytes' ? '/photos/48x48/$value' : '/photo';
      return {
        path: `/v1.0/users/${encodeURIComponent(person.upn)}${suffix}`,
        headers: { authorization: `Bearer ${tokens[n % tokens.length]}` },
      };
    },
  };
}

function uploadRoute(connections: number): RouteLoad {
  const stats = new RouteStats('uploads     PUT me/photo/$value (12 MP JPEG)', connections, [503]);
  return {
    stats,
    method: 'PUT',
    next: () => {
      const { n, body } = nextUploadBody();
      return { path: '/v1.0/me/photo/$value', headers: uploadHeaders(n), body };
    },
    onResponse: (status, headers) => {
      if (status !== 503) return;
      const retryAfter = Object.entries(headers).find(([name]) => name.toLowerCase() === 'retry-after')?.[1];
      const value = Array.isArray(retryAfter) ? retryAfter.join(',') : retryAfter;
      if (value === undefined || !/^\d+$/.test(value) || Number(value) < 1) stats.retryAfterMissing++;
      else stats.retryAfterValues.add(value);
    },
  };
}

/**
 * Each route answers as expected once, before any load. Thumbnails are read anonymously when the
 * server allows it (LOAD_THUMB_AUTH=auto, the default), else with a bearer token.
 */
async function preflight(): Promise<void> {
  const person = people[PEOPLE - 1]!;
  const thumbnailUrl = `${base}/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(person.upn)}`;
  const anonymous = await fetch(thumbnailUrl);
  await anonymous.arrayBuffer();
  if (THUMB_AUTH === 'token' || (THUMB_AUTH === 'auto' && anonymous.status === 401)) thumbnailsWithToken = true;
  const bearer = { authorization: `Bearer ${tokens[0]}` };
  const checks: [string, string, Record<string, string>, string][] = [
    ['thumbnail', thumbnailUrl, thumbnailsWithToken ? bearer : {}, 'image/jpeg'],
    ['graph 48x48', `${base}/v1.0/users/${encodeURIComponent(person.upn)}/photos/48x48/$value`, bearer, 'image/jpeg'],
    ['graph metadata', `${base}/v1.0/users/${encodeURIComponent(person.upn)}/photo`, bearer, 'application/json'],
  ];
  for (const [name, url, headers, type] of checks) {
    const response = await fetch(url, { headers });
    const body = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200 || !response.headers.get('content-type')?.startsWith(type)) {
      throw new Error(`preflight ${name}: ${response.status} ${response.headers.get('content-type')} ${body.toString().slice(0, 300)}`);
    }
  }
  const { n, body } = nextUploadBody();
  const upload = await fetch(`${base}/v1.0/me/photo/$value`, { method: 'PUT', headers: uploadHeaders(n), body: new Uint8Array(body) });
  if (upload.status !== 200) throw new Error(`preflight upload: ${upload.status} ${(await upload.text()).slice(0, 300)}`);
  if (renice)
    console.log(`Experiment LOAD_RENICE_SERVER_WORKERS=${RENICE}: the server's threads other than the event loop run at nice ${RENICE}`);
  console.log(
    `Preflight ok; thumbnails read ${thumbnailsWithToken ? `with a bearer token (anonymous answered ${anonymous.status}${THUMB_AUTH === 'token' ? ', LOAD_THUMB_AUTH=token' : ''})` : 'anonymously'}`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Phases.

interface PhaseReport {
  name: string;
  seconds: number;
  routes: RouteStats[];
  serverCpu: CpuUse;
  machineBusySeconds: number;
  generatorLoopDelayP99Ms: number;
  generatorLoopDelayMaxMs: number;
  generatorCpuSeconds: number;
  generatorWaitingSeconds: number;
  wallSeconds: number;
  metricsBefore: MetricSample[];
  metricsAfter: MetricSample[];
  rssStartMb: number;
  rssPeakMb: number;
  samples: { status: number; retryAfter: string | null; ms: number }[];
}

async function runPhase(name: string, seconds: number, routes: RouteLoad[], sampleUploads: boolean): Promise<PhaseReport> {
  const metricsBefore = await scrapeMetrics(base, metricsToken); // also resets the server's event-loop delay histogram
  const cpuBefore = cpuSnapshot(serverPid);
  const machineBefore = machineCpuSeconds();
  const generatorLoop = monitorEventLoopDelay({ resolution: 10 });
  generatorLoop.enable();
  const generatorBefore = process.cpuUsage();
  const generatorSchedBefore = ownSchedstat();
  const rssStartMb = rss!.startPhase();
  const phaseStarted = performance.now();

  // A plain client now and then: what a well-behaved uploader sees during the flood (503 + Retry-After).
  const samples: PhaseReport['samples'] = [];
  let sampling = sampleUploads;
  const sampler = (async () => {
    await new Promise((r) => setTimeout(r, Math.min(3000, (seconds * 1000) / 4)));
    while (sampling) {
      const { n, body } = nextUploadBody();
      const t0 = performance.now();
      try {
        const response = await fetch(`${base}/v1.0/me/photo/$value`, {
          method: 'PUT',
          headers: uploadHeaders(n),
          body: new Uint8Array(body),
          signal: AbortSignal.timeout(15_000),
        });
        await response.arrayBuffer();
        samples.push({ status: response.status, retryAfter: response.headers.get('retry-after'), ms: performance.now() - t0 });
      } catch (error) {
        samples.push({ status: 0, retryAfter: String((error as Error).message), ms: performance.now() - t0 });
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();

  await Promise.all(routes.map((route) => runRoute(port, seconds, route)));
  sampling = false;
  await sampler;

  const wallSeconds = (performance.now() - phaseStarted) / 1000;
  const generator = process.cpuUsage(generatorBefore);
  const serverCpu = cpuUse(cpuBefore, cpuSnapshot(serverPid));
  const machineBusySeconds = machineCpuSeconds() - machineBefore;
  generatorLoop.disable();
  const metricsAfter = await scrapeMetrics(base, metricsToken);
  return {
    name,
    seconds,
    routes: routes.map((r) => r.stats),
    serverCpu,
    machineBusySeconds,
    generatorLoopDelayP99Ms: generatorLoop.percentile(99) / 1e6,
    generatorLoopDelayMaxMs: generatorLoop.max / 1e6,
    generatorCpuSeconds: (generator.user + generator.system) / 1e6,
    generatorWaitingSeconds: ownSchedstat().waiting - generatorSchedBefore.waiting,
    wallSeconds,
    metricsBefore,
    metricsAfter,
    rssStartMb,
    rssPeakMb: rss!.phasePeakMb,
    samples,
  };
}

const mixedRoutes = () => [
  thumbnailRoute(THUMB_CONNECTIONS),
  ...(GRAPH_BYTES_CONNECTIONS > 0 ? [graphRoute(GRAPH_BYTES_CONNECTIONS, 'bytes')] : []),
  ...(GRAPH_META_CONNECTIONS > 0 ? [graphRoute(GRAPH_META_CONNECTIONS, 'metadata')] : []),
  ...(UPLOAD_CONNECTIONS > 0 ? [uploadRoute(UPLOAD_CONNECTIONS)] : []),
];

let exitCode = 1;
try {
  await preflight();
  if (WARMUP_SECONDS > 0) {
    // The JIT and the caches: a few seconds of reads, not counted.
    await runPhase(
      'warm-up',
      WARMUP_SECONDS,
      mixedRoutes().filter((r) => r.method === 'GET'),
      false,
    );
  }
  console.log(`\nRunning: mixed load for ${SECONDS} s…`);
  const mixed = await runPhase('mixed', SECONDS, mixedRoutes(), true);
  printPhase(`Phase 1 — mixed load: thumbnails, Graph reads and an upload flood, ${SECONDS} s, ${TOTAL_CONNECTIONS} connections`, mixed);

  let alone: PhaseReport | undefined;
  if (ALONE_SECONDS > 0) {
    console.log(`\nRunning: thumbnails alone for ${ALONE_SECONDS} s…`);
    alone = await runPhase('alone', ALONE_SECONDS, [thumbnailRoute(THUMB_CONNECTIONS)], false);
    printPhase(`Phase 2 — thumbnails alone (no flood), ${ALONE_SECONDS} s, ${THUMB_CONNECTIONS} connections`, alone);
  }

  renice?.stop();
  const hwmMb = rss.hwmMb();
  rss.stop();
  const peakRssMb = Math.max(rss.overallPeakMb, hwmMb);
  const stopped = await stopChild(server, 15_000);
  const log = summarizeLog(logFile);
  console.log(`\nServer stopped with SIGTERM: ${stopped.forced ? 'did not exit within 15 s, killed' : `exit code ${stopped.code}`}`);

  console.log(`Server peak RSS: ${rss.overallPeakMb.toFixed(0)} MB (VmRSS polled every 100 ms), VmHWM ${hwmMb.toFixed(0)} MB`);
  const levels = [...log.byLevel].map(([level, count]) => `${count} ${level}`).join(', ') || 'none';
  console.log(`Server log lines (LOG_LEVEL=warn): ${levels}`);
  for (const { level, msg, count } of log.top) console.log(`  ${String(count).padStart(6)} × ${level}: ${msg}`);

  const thumbsMixed = mixed.routes[0]!;
  const mixedP99 = latencySummary(thumbsMixed.okLatencies).p99;
  if (alone) {
    const aloneP99 = latencySummary(alone.routes[0]!.okLatencies).p99;
    console.log(
      `\nThumbnail reads, p99: ${ms(aloneP99)} ms alone, ${ms(mixedP99)} ms under the upload flood ` +
        `(${(mixedP99 / aloneP99).toFixed(1)}×); req/s ${rate(alone.routes[0]!)} alone, ${rate(thumbsMixed)} under the flood`,
    );
  }

  // ----- the checks
  const phases = [mixed, ...(alone ? [alone] : [])];
  const allRoutes = phases.flatMap((p) => p.routes);
  const errors = allRoutes.reduce((sum, r) => sum + r.errors, 0);
  const timeouts = allRoutes.reduce((sum, r) => sum + r.timeouts, 0);
  const sampleErrors = mixed.samples.filter((s) => s.status === 0).length;
  const unplanned = allRoutes.flatMap((r) =>
    r.unplanned().map(([status, count]) => `${count} × ${status} on ${r.label.replace(/\s+/g, ' ')}`),
  );
  unplanned.push(
    ...mixed.samples
      .filter((s) => s.status !== 0 && s.status !== 200 && s.status !== 503)
      .map((s) => `sampled upload answered ${s.status}`),
  );
  const missingRetryAfter =
    allRoutes.reduce((sum, r) => sum + r.retryAfterMissing, 0) +
    mixed.samples.filter((s) => s.status === 503 && !/^\d+$/.test(s.retryAfter ?? '')).length;
  if (missingRetryAfter > 0) unplanned.push(`${missingRetryAfter} × 503 without a valid Retry-After`);
  const stored =
    mixed.routes.filter((r) => r.planned.includes(503)).reduce((sum, r) => sum + r.ok, 0) +
    mixed.samples.filter((s) => s.status === 200).length;

  const checks: [boolean, string, string][] = [
    [errors + sampleErrors === 0, 'errors (socket errors + timeouts) = 0', `${errors + sampleErrors} (timeouts ${timeouts})`],
    [
      unplanned.length === 0,
      'no unplanned non-2xx (only 503 with Retry-After, on uploads)',
      unplanned.length ? unplanned.join('; ') : 'none',
    ],
    [
      mixedP99 < THUMB_P99_GOAL_MS,
      `thumbnail-read p99 < ${THUMB_P99_GOAL_MS} ms under the upload flood`,
      `${ms(mixedP99)} ms` +
        (mixedP99 < THUMB_P99_GOAL_MS
          ? ''
          : ` (${ms(mixedP99 - THUMB_P99_GOAL_MS)} ms over, ${(mixedP99 / THUMB_P99_GOAL_MS).toFixed(2)}× the goal)`),
    ],
  ];
  if (UPLOAD_CONNECTIONS > 0) checks.push([stored > 0, 'uploads got through during the flood', `${stored} stored`]);
  console.log('\nChecks');
  for (const [ok, what, detail] of checks) console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${what}: ${detail}`);
  const passed = checks.every(([ok]) => ok);
  console.log(
    `\n${passed ? 'PASS' : 'FAIL'} — peak server RSS ${peakRssMb.toFixed(0)} MB; ${((performance.now() - started) / 1000).toFixed(0)} s in all`,
  );
  exitCode = passed ? 0 : 1;
} catch (error) {
  console.error(`\nFAIL: ${(error as Error).stack ?? error}`);
  if (fs.existsSync(logFile)) console.error(`server log (last lines):\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
} finally {
  if (server.exitCode === null && server.signalCode === null) await stopChild(server, 15_000);
  cleanUp();
}
process.exit(exitCode);

// ---------------------------------------------------------------------------------------------------
// Printing.

function ms(value: number): string {
  if (Number.isNaN(value)) return '—';
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

/** Nearest-rank p50 and p99 and the maximum, sorting once (arrays of 100,000s: no spreading into Math.max). */
function latencySummary(values: readonly number[]): { p50: number; p99: number; max: number } {
  if (values.length === 0) return { p50: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return { p50: rank(50), p99: rank(99), max: sorted[sorted.length - 1]! };
}

function rate(stats: RouteStats): string {
  return (stats.answered / Math.max(0.001, stats.seconds)).toFixed(0);
}

function printPhase(title: string, phase: PhaseReport): void {
  console.log(`\n${title}`);
  const header = ['route', 'conn', 'answered', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'statuses', 'errors'];
  const rows: string[][] = [];
  for (const r of phase.routes) {
    const statuses =
      [...r.statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, c]) => `${s}×${c}`)
        .join(' ') || '—';
    const ok = latencySummary(r.okLatencies);
    rows.push([
      r.label + (r.planned.length ? ' [2xx]' : ''),
      String(r.connections),
      String(r.answered),
      rate(r),
      ms(ok.p50),
      ms(ok.p99),
      ms(ok.max),
      statuses,
      `${r.errors}${r.timeouts ? ` (${r.timeouts} timeouts)` : ''}`,
    ]);
    if (r.planned.length && r.otherLatencies.length) {
      const other = latencySummary(r.otherLatencies);
      rows.push([
        `${' '.repeat(12)}… the ${r.planned.join('/')} answers`,
        '',
        String(r.otherLatencies.length),
        '',
        ms(other.p50),
        ms(other.p99),
        ms(other.max),
        '',
        '',
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 || i === 7 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(`  ${line(header)}`);
  for (const row of rows) console.log(`  ${line(row)}`);
  for (const r of phase.routes) {
    if (r.errorSamples.size) console.log(`  errors on ${r.label.replace(/\s+/g, ' ')}: ${[...r.errorSamples].join(' | ')}`);
    if (r.retryAfterValues.size || r.retryAfterMissing) {
      console.log(
        `  every 503 on uploads checked: Retry-After ${[...r.retryAfterValues].join(', ') || '—'}; missing or invalid on ${r.retryAfterMissing}`,
      );
    }
  }

  const cpu = phase.serverCpu;
  const perSecond = (seconds: number) => (seconds / phase.wallSeconds).toFixed(2);
  const cpuParts = [...cpu.byGroup]
    .filter(([, s]) => s / phase.wallSeconds >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([name, s]) => `${name} ${perSecond(s)}`)
    .join(', ');
  const generator = phase.generatorCpuSeconds;
  const others = phase.machineBusySeconds - cpu.totalSeconds - generator;
  console.log(
    `  CPU (cores): machine ${perSecond(phase.machineBusySeconds)} of ${os.availableParallelism()} busy = server ${perSecond(cpu.totalSeconds)} ` +
      `+ load generator ${perSecond(generator)} + other processes ${perSecond(Math.max(0, others))}`,
  );
  console.log(`  server CPU by thread: ${cpuParts}`);
  console.log(
    `  server read ${(cpu.readBytes / 1e9).toFixed(2)} GB in the phase (sockets and files, /proc/<pid>/io rchar): ${(cpu.readBytes / 1e6 / phase.wallSeconds).toFixed(0)} MB/s`,
  );
  console.log(
    `  server main thread: on a CPU ${perSecond(cpu.mainOnCpuSeconds)} of the time (user ${perSecond(cpu.mainUserSeconds)}, kernel ${perSecond(cpu.mainSystemSeconds)}), ` +
      `runnable but waiting for a CPU ${perSecond(cpu.mainRunQueueSeconds)} (schedstat); ` +
      `context switches ${cpu.mainVoluntarySwitches} voluntary, ${cpu.mainInvoluntarySwitches} preempted`,
  );
  console.log(
    `  load generator main thread: runnable but waiting for a CPU ${perSecond(phase.generatorWaitingSeconds)} of the time; ` +
      `event-loop delay p99 ${ms(phase.generatorLoopDelayP99Ms)} ms, max ${ms(phase.generatorLoopDelayMaxMs)} ms`,
  );
  const lagP99 = gauge(phase.metricsAfter, 'nodejs_eventloop_lag_p99_seconds') * 1000;
  const lagMax = gauge(phase.metricsAfter, 'nodejs_eventloop_lag_max_seconds') * 1000;
  const lagMean = gauge(phase.metricsAfter, 'nodejs_eventloop_lag_mean_seconds') * 1000;
  console.log(
    `  server event-loop delay (monitorEventLoopDelay, 10 ms resolution): mean ${ms(lagMean)} ms, p99 ${ms(lagP99)} ms, max ${ms(lagMax)} ms`,
  );
  const thumbs = serverRouteTimes(phase.metricsBefore, phase.metricsAfter, '/_layouts/15/userphoto.aspx');
  if (thumbs.total > 0) {
    console.log(
      `  thumbnails as the server timed them (fastify, arrival → reply; /metrics buckets): ${(thumbs.within(0.05) * 100).toFixed(2)} % ≤ 50 ms, ` +
        `${(thumbs.within(0.025) * 100).toFixed(2)} % ≤ 25 ms, p99 ≤ ${thumbs.percentileBound(99) * 1000} ms`,
    );
  }
  const uploads = serverRouteTimes(phase.metricsBefore, phase.metricsAfter, '/v1.0/me/photo/$value');
  if (uploads.total > 0) {
    const processed = phase.metricsAfter.find((s) => s.name === 'photosync_image_processing_seconds_count')?.value ?? 0;
    const processedBefore = phase.metricsBefore.find((s) => s.name === 'photosync_image_processing_seconds_count')?.value ?? 0;
    console.log(
      `  uploads as the server saw them: ${uploads.total} answered, p50 ≤ ${uploads.percentileBound(50) * 1000} ms, p99 ≤ ${uploads.percentileBound(99) * 1000} ms; image work ${processed - processedBefore} runs (503s included)`,
    );
  }
  console.log(`  server RSS: ${phase.rssStartMb.toFixed(0)} MB at the start, peak ${phase.rssPeakMb.toFixed(0)} MB`);
  if (phase.samples.length) {
    const byStatus = new Map<string, number>();
    for (const s of phase.samples) {
      const key =
        s.status === 503
          ? `503 (Retry-After: ${s.retryAfter ?? 'missing'})`
          : s.status === 0
            ? `error (${s.retryAfter})`
            : String(s.status);
      byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    }
    console.log(
      `  plain-fetch upload every 2 s during the flood: ${[...byStatus].map(([k, c]) => `${c} × ${k}`).join(', ')}; ` +
        `median ${ms(
          percentile(
            phase.samples.map((s) => s.ms),
            50,
          ),
        )} ms`,
    );
  }
}
