import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { buildHttpApp, createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { CLI_ACTOR } from '../src/identity/index.ts';
import { createScratchPostgres, percentile } from './bench-support.ts';
import { fillPeople } from './sync-status-query.ts';

export interface BulkSyncEventLoopResult {
  dialect: 'sqlite' | 'postgres';
  people: number;
  fillSeconds: number;
  /** From the admin's "Sync everyone" until the run finished. */
  runSeconds: number;
  peoplePerSecond: number;
  /** Starting the run (listing everyone, storing the run and its jobs), as the admin waits for it. */
  startMs: number;
  healthz: { probes: number; p50Ms: number; p99Ms: number; maxMs: number };
  eventLoop: { p99Ms: number; maxMs: number };
}

/** A separate process asks /healthz every 20 ms and reports each answer's time (its loop is not the server's). */
const PROBER = `
const [url, everyMs] = process.argv.slice(1);
const times = [];
let stop = false;
process.on('message', () => { stop = true; });
(async () => {
  while (!stop) {
    const started = performance.now();
    try { const r = await fetch(url); await r.arrayBuffer(); times.push(performance.now() - started); } catch { times.push(-1); }
    await new Promise((r) => setTimeout(r, Number(everyMs)));
  }
  process.send(times, () => process.exit(0));
})();
`;

/**
 * "Sync everyone" at scale, with the server's responsiveness watched: the server (services and
 * HTTP app) runs in this process with its workers, so `monitorEventLoopDelay` sees its event loop;
 * a child process probes `/healthz` meanwhile. Everyone is already in sync (the fill), so the run is
 * the pipeline itself: listing people, storing the run and its jobs, workers taking them, an ETag
 * compare per person, each item counted in the run.
 */
export async function benchBulkSyncEventLoop(options: { people: number; databaseUrl?: string }): Promise<BulkSyncEventLoopResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-bulk-'));
  const services = await createServices(
    loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...(options.databaseUrl && { DATABASE_URL: options.databaseUrl }) }),
  );
  try {
    const filled = performance.now();
    await fillPeople(services.database.db, options.people, { allInSync: true });
    const fillSeconds = (performance.now() - filled) / 1000;
    const app = await buildHttpApp(services);
    await app.listen({ port: 0, host: '127.0.0.1' });
    await services.syncAutomation.startWorkers({ tick: false });
    const address = app.server.address() as { port: number };
    const prober = spawn(process.execPath, ['-e', PROBER, `http://127.0.0.1:${address.port}/healthz`, '20'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const probes = new Promise<number[]>((resolve) => prober.once('message', (times) => resolve(times as number[])));
    await new Promise((resolve) => setTimeout(resolve, 500));

    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = performance.now();
    const runId = await services.syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: false });
    const startMs = performance.now() - started;
    for (;;) {
      const run = await services.runs.get(runId);
      if (!run || run.status !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const runSeconds = (performance.now() - started) / 1000;
    delay.disable();
    prober.send('stop');
    const times = (await probes).filter((t) => t >= 0);
    await app.close();
    const final = (await services.runs.get(runId))!;
    if (final.done !== options.people) throw new Error(`the run ended with ${final.done} of ${options.people} done (${final.status})`);
    return {
      dialect: services.database.dialect,
      people: options.people,
      fillSeconds,
      runSeconds,
      peoplePerSecond: options.people / runSeconds,
      startMs,
      healthz: { probes: times.length, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), maxMs: Math.max(...times) },
      eventLoop: { p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 },
    };
  } finally {
    await services.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function benchBulkSyncEventLoopPostgres(people: number): Promise<BulkSyncEventLoopResult> {
  const scratch = await createScratchPostgres();
  try {
    return await benchBulkSyncEventLoop({ people, databaseUrl: scratch.url });
  } finally {
    await scratch.drop();
  }
}
