export { SyncEngine, type SyncResult, type SyncEngineOptions } from './sync-engine.ts';
export { SyncRunStore } from './sync-run-store.ts';
export { mailPhotoSource, type PhotoSource } from './photo-source.ts';
export { UserInitiatedTrigger, type UserInitiatedOptions } from './user-initiated-trigger.ts';
export {
  describeSyncState,
  type SyncState,
  type SyncStateKind,
  SYNC_STATE_KINDS,
  type SyncRun,
  type SyncTrigger,
  type SyncOutcome,
} from './sync-state.ts';
export { SyncStatusStore, type PersonSyncStatus, type SyncStatusQuery } from './sync-status-store.ts';
export { SYNC_MODES, type SyncMode } from './sync-mode.ts';
export { MAX_INTERVAL_MINUTES, SyncSettingsStore, validateSyncSettings, type SyncSettings } from './sync-settings.ts';
export { type SyncJob, type SyncJobHandler, type SyncJobQueue } from './sync-job-queue.ts';
export { createSyncJobQueue } from './create-sync-job-queue.ts';
export { SyncRequests } from './sync-requests.ts';
export { SyncAutomation } from './sync-automation.ts';
export { SyncAdministration } from './sync-admin.ts';
