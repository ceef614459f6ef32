export { SyncEngine, type SyncResult, type SyncEngineOptions } from './sync-engine.ts';
export { SyncRunStore } from './sync-run-store.ts';
export { mailPhotoSource, type PhotoSource } from './photo-source.ts';
export { UserInitiatedTrigger, type UserInitiatedOptions } from './user-initiated-trigger.ts';
export { describeSyncState, type SyncState, type SyncStateKind, type SyncRun, type SyncTrigger, type SyncOutcome } from './sync-state.ts';
