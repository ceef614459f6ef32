import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { freePort, median, ROOT } from './bench-support.ts';

export interface StartUpResult {
  /** Median wall time of each command, in seconds, over `runs` runs. */
  nodeBaseline: number;
  help: number;
  usersList: number;
  /** The same two through tsx from the sources (how every command ran before the build). */
  helpFromSources: number;
  usersListFromSources: number;
  /** Spawn of `photosync serve` on SQLite until it prints that it listens (it answers from then on). */
  serverReady: number;
  runs: number;
  people: number;
}

/** How long commands take to start, beside `node -e 0` (the floor any Node program pays). */
export async function benchStartUp(options: { runs: number; people: number }): Promise<StartUpResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-start-'));
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
    const services = await createServices(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
    for (let i = 0; i < options.people; i++) await services.directory.addPerson({ userPrincipalName: `person${i}@bench.example` });
    await services.close();
    const env = { PATH: process.env.PATH ?? '', DATA_DIR: dataDir };
    const timed = (args: string[]) => median(Array.from({ length: options.runs }, () => timeCommand(args, env)));
    const bin = path.join(ROOT, 'bin', 'photosync.js');
    const fromSources = ['--import', 'tsx', path.join(ROOT, 'src', 'main.ts')];
    const serverReady: number[] = [];
    for (let i = 0; i < options.runs; i++)
      serverReady.push(await timeServerStart(bin, { ...env, PORT: String(await freePort()), LOG_LEVEL: 'warn' }));
    return {
      nodeBaseline: timed(['-e', '0']),
      help: timed([bin, '--help']),
      usersList: timed([bin, 'users', 'list']),
      helpFromSources: timed([...fromSources, '--help']),
      usersListFromSources: timed([...fromSources, 'users', 'list']),
      serverReady: median(serverReady),
      runs: options.runs,
      people: options.people,
    };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function timeCommand(args: string[], env: Record<string, string>): number {
  const started = process.hrtime.bigint();
  execFileSync(process.execPath, args, { cwd: ROOT, env, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function timeServerStart(bin: string, env: Record<string, string>): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [bin, 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    let seconds: number | undefined;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (seconds !== undefined || !/listening/.test(output)) return;
      seconds = Number(process.hrtime.bigint() - started) / 1e9;
      child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) =>
      seconds === undefined ? reject(new Error(`photosync serve exited with ${code} before listening: ${output}`)) : resolve(seconds),
    );
  });
}
