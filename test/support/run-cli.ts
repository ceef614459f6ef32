import { PassThrough, Readable } from 'node:stream';
import { runCli } from '../../src/cli/index.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

/** Runs `photosync …` in-process with captured streams; stdin is piped (not a terminal). */
export async function runPhotosync(args: string[], env: Record<string, string>, stdin = ''): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await runCli(args, { stdin: Readable.from([Buffer.from(stdin)]), stdout, stderr, env });
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') };
}
