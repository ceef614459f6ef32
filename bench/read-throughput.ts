import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { CLI_ACTOR } from '../src/identity/index.ts';

export interface LoadResult {
  requestsPerSecond: number;
  /** Server CPU (user + system) per request: steadier than req/s on a VM whose speed drifts. */
  cpuMicrosPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export interface ReadBenchResult {
  graph48: LoadResult;
  graph48Bare: LoadResult;
  userPhotoS: LoadResult;
  userPhotoSBare: LoadResult;
}

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/**
 * Hot reads through the real server (a child process, LOG_LEVEL=warn) against a bare node:http child
 * sending the same bytes. The load generator runs here, so each server has a core of its own.
 */
export async function benchReads(options: { seconds: number; connections: number; rounds: number }): Promise<ReadBenchResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-read-'));
  const children: ChildProcess[] = [];
  try {
    const { token, upn, bytes48, bytesS } = await prepareData(dataDir);
    execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
    fs.writeFileSync(path.join(dataDir, 'graph48.jpg'), bytes48);
    fs.writeFileSync(path.join(dataDir, 'sites-s.jpg'), bytesS);
    const photosync = await startChild(['bin/photosync.js', 'serve'], { DATA_DIR: dataDir, PORT: '4701', LOG_LEVEL: 'warn', PATH: process.env.PATH ?? '' }, children);
    const bare48 = await startChild(['bench/bare-server.mjs'], { BYTES_FILE: path.join(dataDir, 'graph48.jpg'), PORT: '4702' }, children);
    const bareS = await startChild(['bench/bare-server.mjs'], { BYTES_FILE: path.join(dataDir, 'sites-s.jpg'), PORT: '4703' }, children);

    // The JIT needs a few seconds of traffic before the server runs at its steady speed: warm both routes first.
    const userPhotoUrl = `http://127.0.0.1:4701/_layouts/15/userphoto.aspx?size=S&accountname=${upn}`;
    const graphUrl = `http://127.0.0.1:4701/v1.0/users/${upn}/photos/48x48/$value`;
    const graphHeaders = { authorization: `Bearer ${token}` };
    for (let i = 0; i < 5; i++) {
      await runLoad(userPhotoUrl, graphHeaders, photosync, { ...options, seconds: 2 });
      await runLoad(graphUrl, graphHeaders, photosync, { ...options, seconds: 2 });
    }

    // This VM's speed drifts from second to second; alternating the contenders over several rounds
    // and taking each one's median keeps the ratio honest.
    const compare = async (url: string, headers: Record<string, string>, bareUrl: string, bare: ChildProcess) => {
      const ourRuns: LoadResult[] = [];
      const bareRuns: LoadResult[] = [];
      await runLoad(url, headers, photosync, { ...options, seconds: 2 }); // warm-up: JIT, caches, connections
      await runLoad(bareUrl, {}, bare, { ...options, seconds: 2 });
      for (let round = 0; round < options.rounds; round++) {
        ourRuns.push(await runLoad(url, headers, photosync, options));
        bareRuns.push(await runLoad(bareUrl, {}, bare, options));
      }
      return [median(ourRuns), median(bareRuns)] as const;
    };
    const [graph48, graph48Bare] = await compare(graphUrl, graphHeaders, 'http://127.0.0.1:4702/', bare48);
    const [userPhotoS, userPhotoSBare] = await compare(userPhotoUrl, graphHeaders, 'http://127.0.0.1:4703/', bareS);
    return { graph48, graph48Bare, userPhotoS, userPhotoSBare };
  } finally {
    await Promise.all(children.map(stopChild));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(results: LoadResult[]): LoadResult {
  return [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(results.length / 2)]!;
}

/** A person with a Mail photo synced to Sites, and a token; the bytes the bare servers will send. */
async function prepareData(dataDir: string) {
  const services = await createServices(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
  try {
    const person = await services.directory.addPerson({ userPrincipalName: 'reader@bench.example' });
    await services.mail.setPhoto(CLI_ACTOR, person, await sharp({ create: { width: 700, height: 700, channels: 3, background: '#3a6ea5' } }).jpeg().toBuffer(), 'cli');
    await services.sync.syncProfilePhoto(person, 'admin');
    const { token } = await services.identity.createApiToken(CLI_ACTOR, person, 'bench');
    const bytes48 = (await services.mail.getRendition(CLI_ACTOR, person, 48)).bytes;
    const bytesS = (await services.sites.getThumbnail(person, 'S')).bytes;
    return { token, upn: person.userPrincipalName, bytes48, bytesS };
  } finally {
    await services.close();
  }
}

async function runLoad(url: string, headers: Record<string, string>, server: ChildProcess, options: { seconds: number; connections: number }): Promise<LoadResult> {
  const cpuBefore = cpuSeconds(server);
  const result = await autocannon({ url, headers, connections: options.connections, duration: options.seconds });
  const cpuMicrosPerRequest = ((cpuSeconds(server) - cpuBefore) * 1e6) / Math.max(1, result.requests.total);
  const errors = result.errors + result.timeouts + result.non2xx;
  return { requestsPerSecond: result.requests.average, cpuMicrosPerRequest, p50Ms: result.latency.p50, p99Ms: result.latency.p99, errors };
}

/** User + system CPU seconds a child has used, from /proc (Linux clock ticks of 1/100 s). */
function cpuSeconds(child: ChildProcess): number {
  const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function startChild(args: string[], env: Record<string, string>, children: ChildProcess[]): Promise<ChildProcess> {
  // Servers on core 1, the load generator (this process) on core 0: otherwise the scheduler's choices
  // from run to run swing the figures by a factor of two on this 2-core machine.
  const child = spawn('taskset', ['-c', '1', process.execPath, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/listening/i.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${output}`)));
  });
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
