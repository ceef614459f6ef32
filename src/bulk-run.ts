import { randomUUID } from 'node:crypto';

export type BulkRunKind = 'sync' | 'import';
export type BulkRunStatus = 'running' | 'finished' | 'cancelled';

/** What a progress bar, a server-sent event and a final report show. */
export interface BulkProgress {
  id: string;
  kind: BulkRunKind;
  label: string;
  startedBy: string;
  status: BulkRunStatus;
  total: number;
  done: number;
  failed: number;
  startedAt: string;
  finishedAt: string | null;
  /** Items per second so far. */
  ratePerSecond: number;
  /** Seconds left at the current rate; null before the first item or when finished. */
  etaSeconds: number | null;
  /** The first failures, with their reasons (all of them are in the run's own report). */
  failures: { item: string; reason: string }[];
}

const FAILURES_KEPT = 200;

/** One long run (a force sync of everyone, a bulk import): its progress, its failures and its cancel switch. */
export class BulkRun {
  readonly id = randomUUID();
  private readonly abort = new AbortController();
  private readonly started = performance.now();
  private readonly startedAt = new Date().toISOString();
  private finishedAt: string | null = null;
  private status: BulkRunStatus = 'running';
  private done = 0;
  private failed = 0;
  private readonly failures: { item: string; reason: string }[] = [];
  private readonly listeners = new Set<(progress: BulkProgress) => void>();
  private resolveFinished!: () => void;
  /** Resolves when the run has finished or was cancelled and its last item returned. */
  readonly finished = new Promise<void>((resolve) => (this.resolveFinished = resolve));

  constructor(
    readonly kind: BulkRunKind,
    readonly label: string,
    readonly startedBy: string,
    private total: number,
  ) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  setTotal(total: number): void {
    this.total = total;
    this.notify();
  }

  itemDone(outcome: { item: string; failure?: string | null }): void {
    this.done++;
    if (outcome.failure) {
      this.failed++;
      if (this.failures.length < FAILURES_KEPT) this.failures.push({ item: outcome.item, reason: outcome.failure });
    }
    this.notify();
  }

  cancel(): void {
    if (this.status === 'running') this.abort.abort();
  }

  finish(): void {
    if (this.status !== 'running') return;
    this.status = this.abort.signal.aborted ? 'cancelled' : 'finished';
    this.finishedAt = new Date().toISOString();
    this.notify();
    this.listeners.clear();
    this.resolveFinished();
  }

  /** Called after every item and at the end; returns the unsubscribe function. */
  onProgress(listener: (progress: BulkProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  progress(): BulkProgress {
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? this.done / seconds : 0;
    return {
      id: this.id,
      kind: this.kind,
      label: this.label,
      startedBy: this.startedBy,
      status: this.status,
      total: this.total,
      done: this.done,
      failed: this.failed,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      ratePerSecond: Math.round(rate * 10) / 10,
      etaSeconds: this.status === 'running' && rate > 0 ? Math.ceil((this.total - this.done) / rate) : null,
      failures: [...this.failures],
    };
  }

  private notify(): void {
    if (this.listeners.size === 0) return;
    const progress = this.progress();
    for (const listener of this.listeners) listener(progress);
  }
}

/**
 * Works through the items with at most `concurrency` at once, stopping early (between items) when
 * the signal aborts. Each item's outcome is the work function's business; it must not throw.
 */
export async function forEachWithConcurrency<T>(items: Iterable<T> | AsyncIterable<T>, concurrency: number, signal: AbortSignal, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]();
  const worker = async () => {
    while (!signal.aborted) {
      const next = await iterator.next();
      if (next.done) return;
      await work(next.value);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

/** The runs of this process, newest first; finished ones are kept a while for their reports. */
export class BulkRunRegistry {
  private readonly runs = new Map<string, BulkRun>();

  constructor(private readonly keep = 20) {}

  start(kind: BulkRunKind, label: string, startedBy: string, total: number): BulkRun {
    const run = new BulkRun(kind, label, startedBy, total);
    this.runs.set(run.id, run);
    for (const id of [...this.runs.keys()].slice(0, Math.max(0, this.runs.size - this.keep))) {
      if (this.runs.get(id)!.progress().status !== 'running') this.runs.delete(id);
    }
    return run;
  }

  get(id: string): BulkRun | undefined {
    return this.runs.get(id);
  }

  list(): BulkRun[] {
    return [...this.runs.values()].reverse();
  }
}
