import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';

/** The repository root: children run from here so `--import tsx` and `src/main.ts` resolve. */
export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export const POSTGRES_ADMIN_URL = process.env.PHOTOSYNC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** A TCP port that was free a moment ago (the server is told to use it; a race is possible but unlikely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Resident memory from /proc/<pid>/status, in MB: VmHWM is the peak so far, VmRSS the current. */
function readProcMemoryMb(pid: number): { hwm: number; rss: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const hwm = kb('VmHWM');
    const rss = kb('VmRSS');
    if (Number.isNaN(hwm) && Number.isNaN(rss)) return undefined; // a zombie: the memory is gone
    return { hwm, rss };
  } catch {
    return undefined;
  }
}

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallSeconds: number;
  /** The child's peak resident memory (VmHWM, polled every 50 ms until it exits), in MB. */
  peakRssMb: number;
}

/**
 * Runs `node <args>` in ROOT to its end, timing it from spawn to exit and polling its peak RSS.
 * `node --import tsx …` is one process (tsx registers a loader; it does not re-spawn), so the pid
 * polled is the process doing the work.
 */
export function runNodeChild(args: string[], env: Record<string, string>): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    const sample = () => {
      const memory = child.pid === undefined ? undefined : readProcMemoryMb(child.pid);
      if (memory) peak = Math.max(peak, Number.isNaN(memory.hwm) ? memory.rss : memory.hwm);
    };
    const timer = setInterval(sample, 50);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearInterval(timer);
      resolve({ code, signal, stdout, stderr, wallSeconds: (performance.now() - started) / 1000, peakRssMb: peak / 1024 });
    });
  });
}

/** Starts `node <args>` in ROOT and resolves once it prints "listening". */
export async function startServerChild(
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not start within 60 s: ${output}`));
    }, 60_000);
    const check = () => {
      if (/listening/i.test(output)) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code} before listening: ${output}`));
    };
    child.stdout!.on('data', check);
    child.once('exit', onExit);
  });
  return { child, output: () => output };
}

/** SIGTERM, then wait for the exit (SIGKILL after `graceMs`); resolves with the exit code (null when killed). */
export function stopChild(child: ChildProcess, graceMs = 15_000): Promise<{ code: number | null; forced: boolean }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, forced: false });
  return new Promise((resolve) => {
    let forced = false;
    const force = setTimeout(() => {
      forced = true;
      child.kill('SIGKILL');
    }, graceMs);
    child.once('exit', (code) => {
      clearTimeout(force);
      resolve({ code, forced });
    });
    child.kill('SIGTERM');
  });
}

/** Whether PostgreSQL answers at POSTGRES_ADMIN_URL; the reason when it does not. */
export async function postgresUnreachable(): Promise<string | undefined> {
  if (process.env.BENCH_POSTGRES === '0') return 'BENCH_POSTGRES=0';
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return `PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL} (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh, empty scratch database (as test/support/databases.ts makes them); `drop` removes it. */
export async function createScratchPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `photosync_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The environment a child needs besides what it is given: PATH, HOME and TMPDIR, nothing else of this process's environment. */
export function childEnv(env: Record<string, string>): Record<string, string> {
  const inherited = Object.fromEntries(
    ['PATH', 'HOME', 'TMPDIR'].flatMap((name) => (process.env[name] ? [[name, process.env[name]!]] : [])),
  );
  return { ...inherited, ...env };
}

/**
 * Runs `work` and then gives every thread of this process back the CPUs it had before: the read
 * benchmark pins this process to core 0, and children spawned later would inherit that pin.
 */
export async function keepingCpuAffinity<T>(work: () => Promise<T>): Promise<T> {
  const list = /affinity list:\s*(\S+)/.exec(execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' }))?.[1];
  try {
    return await work();
  } finally {
    if (list) execFileSync('taskset', ['-a', '-cp', list, String(process.pid)], { stdio: 'ignore' });
  }
}
