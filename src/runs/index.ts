export {
  BulkRuns,
  forEachWithConcurrency,
  type BulkProgress,
  type BulkRunItem,
  type BulkRunKind,
  type BulkRunState,
  type StartRun,
} from './bulk-runs.ts';
