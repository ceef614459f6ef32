import type { SiteProfile, SyncTrigger } from '../sites/index.ts';

/** What started a sync (Sites records it, so Sites states it). */
export type { SyncTrigger };

export type SyncOutcome = 'unchanged' | 'synced' | 'placeholder' | 'failed';

export interface SyncRun {
  id: string;
  personId: string;
  trigger: SyncTrigger;
  outcome: SyncOutcome;
  error: string | null;
  mailEtag: string | null;
  startedAt: string;
  durationMs: number;
}

export type SyncStateKind = 'never-synced' | 'in-sync' | 'out-of-date' | 'failed';
export const SYNC_STATE_KINDS: readonly SyncStateKind[] = ['never-synced', 'in-sync', 'out-of-date', 'failed'];

export interface SyncState {
  state: SyncStateKind;
  mailEtag: string | null;
  syncedEtag: string | null;
  lastCheckedAt: string | null;
  lastSyncedAt: string | null;
  lastTrigger: string | null;
  reason: string | null;
}

/** Compares what Sites last took with what Mail holds now. */
export function describeSyncState(profile: SiteProfile | undefined, mailEtag: string | null): SyncState {
  const base = {
    mailEtag,
    syncedEtag: profile?.syncedEtag ?? null,
    lastCheckedAt: profile?.lastCheckedAt ?? null,
    lastSyncedAt: profile?.lastSyncedAt ?? null,
    lastTrigger: profile?.lastTrigger ?? null,
    reason: profile?.lastError ?? null,
  };
  if (profile?.lastError) return { ...base, state: 'failed' };
  if (!profile?.lastCheckedAt) return { ...base, state: 'never-synced' };
  return { ...base, state: base.syncedEtag === mailEtag ? 'in-sync' : 'out-of-date' };
}
