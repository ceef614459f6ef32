import type { Services } from '../services.ts';
import type { Readable, Writable } from 'node:stream';

/** The process's streams and environment, passed in so tests can run the CLI in-process. */
export interface CliIo {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A failure the CLI reports in one line and maps to an exit code. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

/** What each group of commands needs from the program. */
export interface CliContext {
  io: CliIo;
  withServices<T>(work: (services: Services) => Promise<T>): Promise<T>;
  /** One line to standard output. */
  out(line: string): void;
  /** A value as indented JSON on standard output. */
  json(value: unknown): void;
}
