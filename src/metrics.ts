import { createHash, timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { NotPermitted } from './errors.ts';
import { isAdmin, type Actor } from './identity/index.ts';

/** Counts per sync state, read from the database when Prometheus scrapes (the caller caches). */
export type PeopleBySyncStateSource = () => Promise<Record<string, number>>;

/**
 * A metric's labelled children, each made once and then found by a plain string key: prom-client
 * hashes a label object on every call, which hot paths (every request) should not pay.
 */
export function labelledChildren<T>(child: (...labels: string[]) => T): (...labels: string[]) => T {
  const children = new Map<string, T>();
  return (...labels) => {
    const key = labels.join(' ');
    let found = children.get(key);
    if (!found) {
      found = child(...labels);
      children.set(key, found);
    }
    return found;
  };
}

/**
 * Counts for the hottest path (photo reads answered from memory): each label set is a plain number
 * the caller keeps and adds to, handed to prom-client only when the metric is read, since
 * prom-client's inc() hashes its labels on every call.
 */
export class CountsAddedOnRead<Label extends string> {
  private readonly cells: { labels: Record<Label, string>; count: number; added: number }[] = [];

  cell(labels: Record<Label, string>): { count: number } {
    const cell = { labels, count: 0, added: 0 };
    this.cells.push(cell);
    return cell;
  }

  addTo(counter: Counter<Label>): void {
    for (const cell of this.cells) {
      if (cell.count === cell.added) continue;
      counter.inc(cell.labels, cell.count - cell.added);
      cell.added = cell.count;
    }
  }
}

/** Every Prometheus metric the process exposes, in one registry per app (tests build several apps). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let peopleBySyncState: PeopleBySyncStateSource | undefined;
  const fastPhotoReadCounts = new CountsAddedOnRead<'route' | 'status'>();
  return {
    /** Wired once the sync status store exists (the metrics are created first). */
    countPeopleBySyncStateWith(source: PeopleBySyncStateSource) {
      peopleBySyncState = source;
    },
    peopleBySyncState: new Gauge({
      name: 'photosync_people_by_sync_state',
      help: 'People per sync state (never-synced, in-sync, out-of-date, failed)',
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        if (!peopleBySyncState) return;
        for (const [state, people] of Object.entries(await peopleBySyncState())) this.set({ state }, people);
      },
    }),
    registry,
    httpRequestSeconds: new Histogram({
      name: 'photosync_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    fastPhotoReads: new Counter({
      name: 'photosync_fast_photo_reads_total',
      help: 'Photo reads answered from memory before routing (not in the request histogram), by route and status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
      collect() {
        fastPhotoReadCounts.addTo(this);
      },
    }),
    /** Where the fast photo reads count (photosync_fast_photo_reads_total reads them). */
    fastPhotoReadCounts,
    photoUploads: new Counter({
      name: 'photosync_photo_uploads_total',
      help: 'Mail photo uploads by result (stored, unchanged, rejected)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    imageProcessingSeconds: new Histogram({
      name: 'photosync_image_processing_seconds',
      help: 'Time spent validating and rendering an uploaded photo',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    syncRuns: new Counter({
      name: 'photosync_sync_runs_total',
      help: 'Mail → Sites sync runs by trigger and outcome',
      labelNames: ['trigger', 'outcome'] as const,
      registers: [registry],
    }),
    syncSeconds: new Histogram({
      name: 'photosync_sync_duration_seconds',
      help: 'Duration of one Mail → Sites sync run',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Whether an Authorization header carries METRICS_TOKEN as a bearer token (Prometheus's
 * `authorization: { type: Bearer, credentials_file: … }`). Compared by digest in constant time.
 */
export function carriesMetricsToken(authorization: string | undefined, metricsToken: string | undefined): boolean {
  const sent = authorization === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  if (metricsToken === undefined || sent === undefined) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(sent), digest(metricsToken));
}

/** The metrics show headcounts per sync state and sign-in counters: for admins (and METRICS_TOKEN) only. */
export function assertCanReadMetrics(actor: Actor): void {
  if (!isAdmin(actor))
    throw new NotPermitted('Only an admin (a browser session or an admin-scoped token) or the METRICS_TOKEN can read the metrics.');
}
