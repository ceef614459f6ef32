import type { Logger } from 'pino';
import type { Transaction } from 'kysely';
import type { CrossProcess, Schema } from '../storage/index.ts';
import type { SyncTrigger } from './sync-state.ts';

/** A stored request to sync: some people, what asked for it, and the bulk run it belongs to. */
export interface SyncJob {
  personIds: string[];
  trigger: SyncTrigger;
  runId?: string;
}

export interface EnqueueOptions {
  /** Written in this transaction: the request commits or rolls back with the change that caused it. */
  db?: Transaction<Schema>;
  /** One waiting request per person: asking again for someone already waiting adds nothing. */
  singleton?: boolean;
  /** Not before this many seconds (a safety record for a sync that runs right now elsewhere). */
  delaySeconds?: number;
  /** Bulk chunks wait behind single people, so a force sync of everyone does not delay on-change. */
  bulk?: boolean;
}

/** Runs one job; throws to have it retried (with backoff, a bounded number of times). */
export type SyncJobHandler = (job: SyncJob) => Promise<void>;

/** Retries for a failing sync: the job library's own, with these settings on both databases. */
export const SYNC_JOB_RETRY = { retryLimit: 3, retryDelaySeconds: 2, retryBackoff: true } as const;

/** A job taken by a process that then died is taken again after this long. */
export const SYNC_JOB_EXPIRY_SECONDS = 60;

/**
 * Where sync requests wait for a worker, durably: pg-boss jobs on PostgreSQL (shared by all
 * processes), a table drained by an in-process runner on SQLite. Both take a transaction, so a
 * request is stored with the change that caused it.
 */
export interface SyncJobQueue {
  /** Stores the jobs; returns their ids (a singleton already waiting is not stored again). */
  enqueue(jobs: readonly SyncJob[], options?: EnqueueOptions): Promise<string[]>;
  /** Drops jobs whose work was done elsewhere (a sync run in place while its record waited). */
  forget(ids: readonly string[]): Promise<void>;
  /** Those of these people with a request waiting or running. */
  pendingPersonIds(personIds: readonly string[]): Promise<Set<string>>;
  /** Whether any job of this bulk run is still waiting or running. */
  hasPendingJobs(runId: string): Promise<boolean>;
  /** New jobs may be waiting (stored by another process, or committed just now): look at once. */
  wake(): void;
  /** From now on this process takes jobs. */
  startWorkers(): Promise<void>;
  /** Resolves when no job is waiting or running (for tests and scripts). */
  whenIdle(): Promise<void>;
  /** Stops taking jobs and waits for the running ones. */
  stop(): Promise<void>;
}

export interface QueueOptions {
  concurrency: number;
  log: Logger;
  /** Scaled down in tests; the retry count and backoff shape stay those of SYNC_JOB_RETRY. */
  retryDelayMs?: number;
  setupLock?: CrossProcess['withLock'];
  now?: () => Date;
}
