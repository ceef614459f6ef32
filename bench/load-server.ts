import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { ROOT, childEnv, sleep } from './bench-support.ts';

/**
 * The real server for the load test: `node --import tsx src/main.ts serve` (one process, so its pid
 * is the one whose memory and threads are measured). Its log goes to a file, not a pipe: on Linux a
 * pipe makes the server's stdout writes synchronous, and a load generator busy with 64 connections
 * would then slow the server down by not reading it.
 */
export async function startLoadServer(options: { env: Record<string, string>; logFile: string }): Promise<ChildProcess> {
  const log = fs.openSync(options.logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: ROOT,
    env: childEnv(options.env),
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const started = performance.now();
  while (performance.now() - started < 60_000) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `the server exited (${child.exitCode ?? child.signalCode}) before listening:\n${fs.readFileSync(options.logFile, 'utf8').slice(-3000)}`,
      );
    }
    if (/is listening on/.test(fs.readFileSync(options.logFile, 'utf8'))) return child;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`the server did not start within 60 s:\n${fs.readFileSync(options.logFile, 'utf8').slice(-3000)}`);
}

function procStatusKb(pid: number, field: string): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Polls the server's VmRSS every 100 ms; `phasePeakMb` is the peak since the last `startPhase()`. */
export class RssPoller {
  private readonly timer: NodeJS.Timeout;
  private overallPeakKb = 0;
  private phasePeakKb = 0;
  private lastKb = 0;

  constructor(private readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
  }

  private sample(): void {
    const kb = procStatusKb(this.pid, 'VmRSS');
    if (Number.isNaN(kb)) return;
    this.lastKb = kb;
    this.overallPeakKb = Math.max(this.overallPeakKb, kb);
    this.phasePeakKb = Math.max(this.phasePeakKb, kb);
  }

  startPhase(): number {
    this.sample();
    this.phasePeakKb = this.lastKb;
    return this.lastKb / 1024;
  }

  get currentMb(): number {
    return this.lastKb / 1024;
  }

  get phasePeakMb(): number {
    return this.phasePeakKb / 1024;
  }

  get overallPeakMb(): number {
    return this.overallPeakKb / 1024;
  }

  /** The kernel's own high-water mark of the resident set (catches peaks between two polls). */
  hwmMb(): number {
    return procStatusKb(this.pid, 'VmHWM') / 1024;
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }
}

/**
 * CPU of a process and its threads, from /proc (clock ticks of 1/100 s): the process total (which
 * includes threads that have ended: libvips starts and stops its workers), each live thread by tid,
 * and the main thread's scheduler figures (/proc/<pid>/task/<pid>/schedstat: time on a CPU, time
 * runnable but waiting for one; /status: context switches).
 */
export interface CpuSnapshot {
  processSeconds: number;
  threads: Map<string, { name: string; seconds: number }>;
  mainUserSeconds: number;
  mainSystemSeconds: number;
  mainOnCpuSeconds: number;
  mainRunQueueSeconds: number;
  mainVoluntarySwitches: number;
  mainInvoluntarySwitches: number;
  /** Bytes the process has read with read(2) and friends, sockets included (/proc/<pid>/io rchar). */
  readBytes: number;
}

function statSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function cpuSnapshot(pid: number): CpuSnapshot {
  const threads = new Map<string, { name: string; seconds: number }>();
  let processSeconds = NaN;
  try {
    processSeconds = statSeconds(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        threads.set(tid, { name: tid === String(pid) ? 'main thread (event loop)' : threadGroup(comm), seconds: statSeconds(stat) });
      } catch {
        // the thread ended between readdir and read
      }
    }
  } catch {
    // the process is gone
  }
  let mainUserSeconds = NaN;
  let mainSystemSeconds = NaN;
  let readBytes = NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    mainUserSeconds = Number(fields[11]) / 100;
    mainSystemSeconds = Number(fields[12]) / 100;
    readBytes = Number(/^rchar:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
  } catch {
    // the process is gone
  }
  let mainOnCpuSeconds = NaN;
  let mainRunQueueSeconds = NaN;
  let mainVoluntarySwitches = NaN;
  let mainInvoluntarySwitches = NaN;
  try {
    const [onCpu, waiting] = fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    mainOnCpuSeconds = onCpu! / 1e9;
    mainRunQueueSeconds = waiting! / 1e9;
    const status = fs.readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
    mainVoluntarySwitches = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1]);
    mainInvoluntarySwitches = Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1]);
  } catch {
    // no schedstat in this kernel
  }
  return {
    processSeconds,
    threads,
    mainUserSeconds,
    mainSystemSeconds,
    mainOnCpuSeconds,
    mainRunQueueSeconds,
    mainVoluntarySwitches,
    mainInvoluntarySwitches,
    readBytes,
  };
}

function threadGroup(comm: string): string {
  if (/^libuv-worker/.test(comm)) return 'libuv pool';
  if (/^vips|^glib|^pool/i.test(comm)) return `${comm.replace(/[-_ ]?\d+$/, '')} threads`;
  if (/^V8|DefaultWorke|DelayedTask/i.test(comm)) return 'V8 threads';
  return `"${comm}" threads`;
}

export interface CpuUse {
  totalSeconds: number;
  /** CPU seconds by thread group; threads that ended during the interval are one group. */
  byGroup: Map<string, number>;
  mainUserSeconds: number;
  mainSystemSeconds: number;
  readBytes: number;
  mainOnCpuSeconds: number;
  mainRunQueueSeconds: number;
  mainVoluntarySwitches: number;
  mainInvoluntarySwitches: number;
}

export function cpuUse(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const byGroup = new Map<string, number>();
  let known = 0;
  for (const [tid, thread] of after.threads) {
    const seconds = thread.seconds - (before.threads.get(tid)?.seconds ?? 0);
    known += seconds;
    byGroup.set(thread.name, (byGroup.get(thread.name) ?? 0) + seconds);
  }
  const totalSeconds = after.processSeconds - before.processSeconds;
  const ended = totalSeconds - known;
  if (ended > 0.005) byGroup.set('threads that ended in the meantime', ended);
  return {
    totalSeconds,
    byGroup,
    mainUserSeconds: after.mainUserSeconds - before.mainUserSeconds,
    mainSystemSeconds: after.mainSystemSeconds - before.mainSystemSeconds,
    readBytes: after.readBytes - before.readBytes,
    mainOnCpuSeconds: after.mainOnCpuSeconds - before.mainOnCpuSeconds,
    mainRunQueueSeconds: after.mainRunQueueSeconds - before.mainRunQueueSeconds,
    mainVoluntarySwitches: after.mainVoluntarySwitches - before.mainVoluntarySwitches,
    mainInvoluntarySwitches: after.mainInvoluntarySwitches - before.mainInvoluntarySwitches,
  };
}

/** This thread's time on a CPU and time runnable but waiting for one, in seconds (/proc/thread-self/schedstat). */
export function ownSchedstat(): { onCpu: number; waiting: number } {
  try {
    const [onCpu, waiting] = fs.readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/).map(Number);
    return { onCpu: onCpu! / 1e9, waiting: waiting! / 1e9 };
  } catch {
    return { onCpu: NaN, waiting: NaN };
  }
}

/**
 * An experiment, not a fix: gives every thread of the server except its main thread (the libuv pool
 * running sharp, libvips' workers, V8's helpers) a lower scheduling priority, so the event loop wins
 * the CPU when they compete. Threads inherit the nice value of the thread that creates them; the poll
 * catches the rest.
 */
export function reniceWorkerThreads(pid: number, nice: number): { stop(): void; count(): number } {
  const done = new Set<string>();
  const pass = () => {
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      if (tid === String(pid) || done.has(tid)) continue;
      try {
        os.setPriority(Number(tid), nice);
        done.add(tid);
      } catch {
        // the thread ended
      }
    }
  };
  pass();
  const timer = setInterval(pass, 100);
  return { stop: () => clearInterval(timer), count: () => done.size };
}

/** CPU seconds all cores of the machine have been busy (not idle, not waiting for I/O), from /proc/stat. */
export function machineCpuSeconds(): number {
  const fields = /^cpu\s+(.*)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))![1]!.trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq] = fields;
  return (user! + nice! + system! + irq! + softirq!) / 100;
}

/** One sample line of the Prometheus text format. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Scrapes /metrics as Prometheus does: with the server's METRICS_TOKEN as a bearer token. */
export async function scrapeMetrics(baseUrl: string, metricsToken: string): Promise<MetricSample[]> {
  const response = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const samples: MetricSample[] = [];
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

export function gauge(samples: readonly MetricSample[], name: string): number {
  return samples.find((s) => s.name === name)?.value ?? NaN;
}

/**
 * The server's own view of one route (fastify's reply.elapsedTime, from the request's arrival in
 * fastify to the reply): the cumulative buckets of photosync_http_request_duration_seconds between
 * two scrapes, for all statuses.
 */
export function serverRouteTimes(before: readonly MetricSample[], after: readonly MetricSample[], route: string) {
  const buckets = (samples: readonly MetricSample[]) => {
    const byLe = new Map<number, number>();
    for (const s of samples) {
      if (s.name !== 'photosync_http_request_duration_seconds_bucket' || s.labels.route !== route) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
    }
    return byLe;
  };
  const b0 = buckets(before);
  const b1 = buckets(after);
  const les = [...b1.keys()].sort((a, b) => a - b);
  const cumulative = les.map((le) => ({ le, count: (b1.get(le) ?? 0) - (b0.get(le) ?? 0) }));
  const total = cumulative.at(-1)?.count ?? 0;
  const within = (seconds: number) => (total === 0 ? NaN : (cumulative.find((b) => b.le === seconds)?.count ?? NaN) / total);
  const percentileBound = (p: number) => cumulative.find((b) => b.count >= (p / 100) * total)?.le ?? NaN;
  return { total, within, percentileBound };
}

/** Counts of the server's log lines by pino level, and the most frequent messages at warn and above. */
export function summarizeLog(logFile: string): { byLevel: Map<string, number>; top: { level: string; msg: string; count: number }[] } {
  const names: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
  const byLevel = new Map<string, number>();
  const messages = new Map<string, { level: string; msg: string; count: number }>();
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: { level?: number; msg?: string; err?: { type?: string; message?: string } };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const level = names[entry.level ?? 0] ?? String(entry.level);
    byLevel.set(level, (byLevel.get(level) ?? 0) + 1);
    if ((entry.level ?? 0) >= 40) {
      const msg = `${entry.msg ?? ''}${entry.err ? ` (${entry.err.type ?? 'Error'}: ${(entry.err.message ?? '').slice(0, 100)})` : ''}`;
      const key = `${level} ${msg}`;
      const found = messages.get(key) ?? { level, msg, count: 0 };
      found.count++;
      messages.set(key, found);
    }
  }
  return { byLevel, top: [...messages.values()].sort((a, b) => b.count - a.count).slice(0, 5) };
}
