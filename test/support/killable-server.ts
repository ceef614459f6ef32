import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { PHOTOSYNC_BIN } from './compiled-bin.ts';

const BIN = PHOTOSYNC_BIN;

/** A free TCP port on 127.0.0.1 (the OS picks it; the server then keeps it across restarts). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface StartReport {
  /** From spawn to the first `GET /readyz` that answered 200. */
  readyMs: number;
}

/**
 * `photosync serve` as a real child process that can be started, SIGKILLed and started again on the
 * same data and the same port. Each start's output is kept apart, so a test can ask whether *that*
 * start was clean.
 */
export class KillableServer {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  private stdout = '';
  /** When the current (or last) process was started, in epoch milliseconds. */
  startedAtMs = 0;
  private stderr = '';
  starts = 0;
  /** Exits nobody asked for (not our SIGKILL or SIGTERM), with the output of that run. */
  readonly unexpectedExits: string[] = [];
  private stopping = false;
  /** Exits during a start are that start's error, not an unexpected exit. */
  private ready = false;

  constructor(
    public port: number,
    private readonly env: Record<string, string>,
  ) {}

  /** The server's address (the port stays the same across restarts unless another process took it meanwhile). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts the server and resolves once `/readyz` answers 200; throws (with the output) when it exits
   * or does not get ready in time. When another process took the port meanwhile (EADDRINUSE), it
   * moves to a new free port once rather than report that as a failed start.
   */
  async start(timeoutMs = 20_000): Promise<StartReport> {
    try {
      return await this.startOnce(timeoutMs);
    } catch (error) {
      if (!/EADDRINUSE/.test((error as Error).message)) throw error;
      this.port = await freePort();
      return this.startOnce(timeoutMs);
    }
  }

  private async startOnce(timeoutMs: number): Promise<StartReport> {
    if (this.running) throw new Error('the server is already running');
    this.stdout = '';
    this.stderr = '';
    this.stopping = false;
    this.ready = false;
    this.starts++;
    this.startedAtMs = Date.now();
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: { PATH: process.env.PATH ?? '', ...this.env, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (c: Buffer) => (this.stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.stopping && this.ready)
          this.unexpectedExits.push(`exit code ${code}, signal ${signal}, start #${this.starts}:\n${this.output().slice(-3000)}`);
        resolve(code);
      }),
    );
    const deadline = started + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the server exited during its start (code ${child.exitCode}, signal ${child.signalCode}):\n${this.output()}`);
      }
      // Our process says it listens (so the answer below is not from whoever else might hold the port), and it answers.
      const ready =
        this.stdout.includes(' is listening on ') &&
        (await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
          async (r) => {
            await r.arrayBuffer().catch(() => {});
            return r.status === 200;
          },
          () => false,
        ));
      if (ready) {
        this.ready = true;
        return { readyMs: performance.now() - started };
      }
      if (performance.now() > deadline) {
        await this.kill();
        throw new Error(`the server did not answer GET /readyz with 200 within ${timeoutMs} ms:\n${this.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
  }

  /** SIGKILL: no shutdown code runs. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (the graceful stop); resolves with the exit code, or throws when it takes longer than the timeout. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    const child = this.child;
    if (!child) return null;
    this.stopping = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the server did not stop within ${timeoutMs} ms of SIGTERM:\n${this.output()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } catch (error) {
      await this.kill();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The JSON log records of this start whose message begins with `prefix`. */
  logRecords(prefix: string): Record<string, unknown>[] {
    const records: Record<string, unknown>[] = [];
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const record = JSON.parse(line) as Record<string, unknown>;
        if (typeof record.msg === 'string' && record.msg.startsWith(prefix)) records.push(record);
      } catch {
        // A line cut off by the kill is not a record.
      }
    }
    return records;
  }

  /** What this start printed so far (stdout, then stderr). */
  output(): string {
    return `${this.stdout}${this.stderr ? `\n--- stderr ---\n${this.stderr}` : ''}`;
  }

  /**
   * What makes this start unclean: any line on stderr, and any JSON log line on stdout at level
   * error (50) or fatal (60). Warnings (40) are returned apart: worth printing, not a failure.
   */
  startProblems(): { errors: string[]; warnings: string[] } {
    const errors: string[] = [];
    const warnings: string[] = [];
    for (const raw of this.stderr.split('\n')) {
      const line = raw.trim();
      if (!line) continue;
      // Node's process warnings (deprecations and the like) are warnings, not errors.
      if (/^\(node:\d+\) (\[\w+\] )?\w*Warning: /.test(line))
        warnings.push(`stderr: ${line.replace(/^\(node:\d+\)/, '(node)').slice(0, 500)}`);
      else if (line.startsWith('(Use `node --trace-')) continue;
      else errors.push(`stderr: ${line.slice(0, 500)}`);
    }
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      let level = 0;
      try {
        level = Number((JSON.parse(line) as { level?: unknown }).level) || 0;
      } catch {
        continue;
      }
      if (level >= 50) errors.push(`log level ${level}: ${line.slice(0, 500)}`);
      else if (level >= 40) warnings.push(line.slice(0, 500));
    }
    return { errors, warnings };
  }
}
