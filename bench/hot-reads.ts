import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { CLI_ACTOR, SESSION_COOKIE } from '../src/identity/index.ts';
import { thumbnailFileName } from '../src/sites/index.ts';
import { freePort, ROOT } from './bench-support.ts';

export interface LoadResult {
  requestsPerSecond: number;
  /** Server CPU (user + system) per request: steadier than req/s on a VM whose speed drifts. */
  cpuMicrosPerRequest: number;
  /** Answers that were not the expected status (wrk's non-2xx/3xx count and socket errors). */
  errors: number;
}

export interface HotReadCase {
  name: string;
  photosync: LoadResult;
  bare: LoadResult;
  nginx: LoadResult | undefined;
  /** photosync's req/s over the baseline's in each round (runs next to each other): how far the figures swing. */
  roundRatios: { bare: number[]; nginx: number[] };
}

/** What busy work in a handler costs the server per request, from the bare server with and without it. */
export interface BusyWorkCost {
  busyMicros: number;
  /** Server CPU µs per request without and with the busy work (medians of alternating rounds). */
  without: number;
  with: number;
}

/** The same server started without the binary's kept tick object (bin/keep-tick-shape.js), on one read. */
export interface TickShapeCost {
  read: string;
  /** Server CPU µs per request, medians of alternating rounds. */
  kept: number;
  withoutKeeping: number;
}

export interface HotReadsResult {
  cases: HotReadCase[];
  /** Why nginx is missing from the figures, when it is. */
  nginxSkipped: string | undefined;
  connections: number;
  busyWork: BusyWorkCost;
  tickShape: TickShapeCost;
}

/** The busy work the bench adds to a bare server's requests to see what it costs in all. */
const BUSY_MICROS = 20;

interface Case {
  name: string;
  /** photosync's path and credential; the baselines serve `file` at `/<file>`. */
  path: string;
  credential: 'bearer' | 'cookie';
  file: 'S' | 'M' | 'L' | 'g48' | 'glargest';
  revalidate: boolean;
}

/**
 * The hot image reads through the compiled server (a child process, LOG_LEVEL=warn, pinned to core 1)
 * against a bare node:http server and a stock Debian nginx (one worker, sendfile on, access log on)
 * sending the same bytes, each pinned to core 1 in turn; wrk (64 connections, one thread) on core 0.
 * Rounds alternate the three, and each figure is the median of its rounds.
 */
export async function benchHotReads(options: { seconds: number; rounds: number; connections: number }): Promise<HotReadsResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-hot-'));
  const children: ChildProcess[] = [];
  try {
    ensureTool('wrk', 'wrk');
    const nginxSkipped = ensureNginx();
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
    const data = await prepareData(dataDir);
    const www = path.join(dataDir, 'www');
    fs.mkdirSync(www);
    for (const [name, bytes] of Object.entries(data.files)) fs.writeFileSync(path.join(www, name), bytes);

    execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
    const ports = { photosync: await freePort(), bare: await freePort(), nginx: await freePort() };
    const photosync = await startPinned(
      [process.execPath, 'bin/photosync.js', 'serve'],
      { DATA_DIR: dataDir, PORT: String(ports.photosync), LOG_LEVEL: 'warn', PATH: process.env.PATH ?? '' },
      children,
    );
    const files = Object.fromEntries(Object.keys(data.files).map((name) => [`/${name}`, path.join(www, name)]));
    const bare = await startPinned(
      [process.execPath, 'bench/bare-server.mjs'],
      { FILES: JSON.stringify(files), PORT: String(ports.bare) },
      children,
    );
    const nginx = nginxSkipped ? undefined : await startNginx(dataDir, www, ports.nginx, children);
    // The server bundle run directly, as bin/photosync.js does but without holding a tick object first.
    const unkeptPort = await freePort();
    const unkept = await startPinned(
      [process.execPath, 'dist/server/main.js', 'serve'],
      { DATA_DIR: dataDir, PORT: String(unkeptPort), LOG_LEVEL: 'warn', PATH: process.env.PATH ?? '' },
      children,
    );
    const busyPort = await freePort();
    const busyBare = await startPinned(
      [process.execPath, 'bench/bare-server.mjs'],
      { FILES: JSON.stringify(files), PORT: String(busyPort), BUSY_MICROS: String(BUSY_MICROS) },
      children,
    );

    const upn = encodeURIComponent(data.upn);
    const cases: Case[] = [
      {
        name: 'userphoto.aspx?size=S, bearer',
        path: `/_layouts/15/userphoto.aspx?size=S&accountname=${upn}`,
        credential: 'bearer',
        file: 'S',
        revalidate: false,
      },
      {
        name: 'userphoto.aspx?size=S, cookie',
        path: `/_layouts/15/userphoto.aspx?size=S&accountname=${upn}`,
        credential: 'cookie',
        file: 'S',
        revalidate: false,
      },
      {
        name: 'userphoto.aspx?size=M, cookie',
        path: `/_layouts/15/userphoto.aspx?size=M&accountname=${upn}`,
        credential: 'cookie',
        file: 'M',
        revalidate: false,
      },
      {
        name: 'userphoto.aspx?size=L, bearer',
        path: `/_layouts/15/userphoto.aspx?size=L&accountname=${upn}`,
        credential: 'bearer',
        file: 'L',
        revalidate: false,
      },
      {
        name: 'profile picture file (M), cookie',
        path: `/User%20Photos/Profile%20Pictures/${data.pictureFile}`,
        credential: 'cookie',
        file: 'M',
        revalidate: false,
      },
      {
        name: 'Graph …/photos/48x48/$value, bearer',
        path: `/v1.0/users/${upn}/photos/48x48/$value`,
        credential: 'bearer',
        file: 'g48',
        revalidate: false,
      },
      {
        name: 'Graph …/photos/48x48/$value, cookie',
        path: `/v1.0/users/${upn}/photos/48x48/$value`,
        credential: 'cookie',
        file: 'g48',
        revalidate: false,
      },
      {
        name: 'Graph …/photo/$value (largest), bearer',
        path: `/v1.0/users/${upn}/photo/$value`,
        credential: 'bearer',
        file: 'glargest',
        revalidate: false,
      },
      {
        name: '304: userphoto.aspx?size=S, bearer',
        path: `/_layouts/15/userphoto.aspx?size=S&accountname=${upn}`,
        credential: 'bearer',
        file: 'S',
        revalidate: true,
      },
      {
        name: '304: Graph …/photos/48x48/$value, cookie',
        path: `/v1.0/users/${upn}/photos/48x48/$value`,
        credential: 'cookie',
        file: 'g48',
        revalidate: true,
      },
    ];

    const credentialOf = (c: Case) =>
      c.credential === 'bearer' ? `Authorization: Bearer ${data.token}` : `Cookie: ${SESSION_COOKIE}=${data.session}`;
    const results: HotReadCase[] = [];
    for (const c of cases) {
      const ours = { url: `http://127.0.0.1:${ports.photosync}${c.path}`, headers: [credentialOf(c)], server: photosync };
      const bareTarget = { url: `http://127.0.0.1:${ports.bare}/${c.file}`, headers: [] as string[], server: bare };
      const nginxTarget = nginx && { url: `http://127.0.0.1:${ports.nginx}/${c.file}`, headers: [] as string[], server: nginx };
      const targets = [ours, bareTarget, ...(nginxTarget ? [nginxTarget] : [])];
      for (const target of targets) {
        const etag = await fetchEtag(target.url, target.headers);
        if (c.revalidate) target.headers.push(`If-None-Match: ${etag}`);
      }
      const runs = await alternatingRounds(targets, options.rounds, options);
      const [photosyncRuns, bareRuns, nginxRuns] = runs.map(medianResult);
      const perRound = (baseline: LoadResult[] | undefined) =>
        (baseline ?? []).map((run, round) => runs[0]![round]!.requestsPerSecond / run.requestsPerSecond);
      results.push({
        name: c.name,
        photosync: photosyncRuns!,
        bare: bareRuns!,
        nginx: nginxRuns,
        roundRatios: { bare: perRound(runs[1]), nginx: perRound(runs[2]) },
      });
    }

    const busyTargets = [
      { url: `http://127.0.0.1:${ports.bare}/S`, headers: [], server: bare },
      { url: `http://127.0.0.1:${busyPort}/S`, headers: [], server: busyBare },
    ];
    // A small difference in a swinging figure: more rounds than the cases.
    const busyRuns = await alternatingRounds(busyTargets, Math.max(5, options.rounds), options);
    const [without, withBusyWork] = busyRuns.map((r) => medianResult(r)!.cpuMicrosPerRequest);
    const busyWork = { busyMicros: BUSY_MICROS, without: without!, with: withBusyWork! };

    const tickShapeRead = cases[0]!;
    const tickShapeTargets = [
      { url: `http://127.0.0.1:${ports.photosync}${tickShapeRead.path}`, headers: [credentialOf(tickShapeRead)], server: photosync },
      { url: `http://127.0.0.1:${unkeptPort}${tickShapeRead.path}`, headers: [credentialOf(tickShapeRead)], server: unkept },
    ];
    for (const target of tickShapeTargets) await fetchEtag(target.url, target.headers);
    const [kept, withoutKeeping] = (await alternatingRounds(tickShapeTargets, options.rounds, options)).map(
      (r) => medianResult(r)!.cpuMicrosPerRequest,
    );
    const tickShape = { read: tickShapeRead.name, kept: kept!, withoutKeeping: withoutKeeping! };
    return { cases: results, nginxSkipped, connections: options.connections, busyWork, tickShape };
  } finally {
    await Promise.all(children.map(stopChild));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

interface LoadTarget {
  url: string;
  headers: string[];
  server: ChildProcess;
}

/** A warm-up run of each target (JIT, caches), then `rounds` rounds that load each in turn: each target's results by round. */
async function alternatingRounds(
  targets: readonly LoadTarget[],
  rounds: number,
  options: { seconds: number; connections: number },
): Promise<LoadResult[][]> {
  for (const target of targets) await runWrk(target.url, target.headers, target.server, { seconds: 1, connections: options.connections });
  const runs = targets.map(() => [] as LoadResult[]);
  for (let round = 0; round < rounds; round++) {
    for (const [i, target] of targets.entries()) runs[i]!.push(await runWrk(target.url, target.headers, target.server, options));
  }
  return runs;
}

function medianResult(results: LoadResult[] | undefined): LoadResult | undefined {
  if (!results?.length) return undefined;
  return [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(results.length / 2)]!;
}

/** A person with a Mail photo synced to Sites; a token and a session of a colleague; the bytes each route sends. */
async function prepareData(dataDir: string) {
  const services = await createServices(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
  try {
    const person = await services.directory.addPerson({ userPrincipalName: 'reader@bench.example' });
    const password = 'bench password of the viewer';
    const viewer = await services.directory.addPerson({
      userPrincipalName: 'viewer@bench.example',
      passwordHash: await services.identity.hashPassword(password),
    });
    await services.mail.setPhoto(
      CLI_ACTOR,
      person,
      await sharp({ create: { width: 700, height: 700, channels: 3, background: '#3a6ea5' } })
        .jpeg()
        .toBuffer(),
      'cli',
    );
    await services.sync.syncProfilePhoto(person, 'admin');
    const { token } = await services.identity.createApiToken(CLI_ACTOR, viewer, 'bench');
    const { sessionToken } = await services.identity.signIn(viewer.userPrincipalName, password);
    const pictureName = (await services.sites.getProfile(person.id))?.pictureName;
    if (!pictureName) throw new Error('the synced person has no picture name');
    const thumbnail = async (size: 'S' | 'M' | 'L') => (await services.sites.getThumbnail(person, size)).bytes;
    const files = {
      S: await thumbnail('S'),
      M: await thumbnail('M'),
      L: await thumbnail('L'),
      g48: (await services.mail.getRendition(CLI_ACTOR, person, 48)).bytes,
      glargest: (await services.mail.getRendition(CLI_ACTOR, person)).bytes,
    };
    return { token, session: sessionToken, upn: person.userPrincipalName, pictureFile: thumbnailFileName(pictureName, 'M'), files };
  } finally {
    await services.close();
  }
}

async function fetchEtag(url: string, headers: string[]): Promise<string> {
  const response = await fetch(url, {
    headers: Object.fromEntries(headers.map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1).trim()])),
  });
  await response.arrayBuffer();
  const etag = response.headers.get('etag');
  if (response.status !== 200 || !etag) throw new Error(`GET ${url} answered ${response.status} without an ETag`);
  return etag;
}

/** wrk on core 0 (this process's core) for `seconds`; the server's CPU from /proc around it. */
async function runWrk(
  url: string,
  headers: string[],
  server: ChildProcess,
  options: { seconds: number; connections: number },
): Promise<LoadResult> {
  const cpuBefore = cpuSeconds(server);
  const args = ['-c', '0', 'wrk', '-t1', `-c${options.connections}`, `-d${options.seconds}s`, ...headers.flatMap((h) => ['-H', h]), url];
  const run = spawnSync('taskset', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr}`);
  const cpu = cpuSeconds(server) - cpuBefore;
  const total = Number(/(\d+) requests in/.exec(run.stdout)?.[1] ?? 0);
  const perSecond = Number(/Requests\/sec:\s+([\d.]+)/.exec(run.stdout)?.[1] ?? 0);
  const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(run.stdout)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(run.stdout);
  const errors = bad + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  return { requestsPerSecond: perSecond, cpuMicrosPerRequest: (cpu * 1e6) / Math.max(1, total), errors };
}

/** User + system CPU seconds a process has used, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(child: ChildProcess): number {
  const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function ensureTool(command: string, debianPackage: string): void {
  if (spawnSync('sh', ['-c', `command -v ${command}`]).status === 0) return;
  const install = spawnSync('apt-get', ['install', '-y', debianPackage], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (install.status !== 0) throw new Error(`${command} is needed for the hot-read bench; apt-get install ${debianPackage} failed`);
}

/** nginx from Debian's packages, installed when missing; the reason it cannot be had, or undefined. */
function ensureNginx(): string | undefined {
  if (fs.existsSync('/usr/sbin/nginx')) return undefined;
  const install = spawnSync('apt-get', ['install', '-y', 'nginx-light'], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return install.status === 0 && fs.existsSync('/usr/sbin/nginx')
    ? undefined
    : 'nginx is not installed and `apt-get install nginx-light` failed';
}

/** Debian's stock http settings (sendfile, tcp_nopush, keepalive 65 s, an access log), one worker, in the foreground. */
async function startNginx(dataDir: string, www: string, port: number, children: ChildProcess[]): Promise<ChildProcess> {
  const dir = path.join(dataDir, 'nginx');
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const conf = `
worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  types_hash_max_size 2048;
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    location / { default_type image/jpeg; add_header Cache-Control "private, no-cache"; }
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn('taskset', ['-c', '1', '/usr/sbin/nginx', '-c', path.join(dir, 'nginx.conf'), '-p', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  // nginx prints nothing when it is up: wait until it answers.
  for (let attempt = 0; attempt < 100; attempt++) {
    if (
      await fetch(`http://127.0.0.1:${port}/S`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return child;
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `nginx did not start: ${fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8') : ''}`,
  );
}

async function startPinned(command: string[], env: Record<string, string>, children: ChildProcess[]): Promise<ChildProcess> {
  // Servers on core 1, the load generator on core 0: otherwise the scheduler's choices from run to
  // run swing the figures by a factor of two on this 2-core machine.
  const child = spawn('taskset', ['-c', '1', ...command], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command.join(' ')} did not start: ${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/listening/i.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${command.join(' ')} exited with ${code}: ${output}`)));
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
