import type { SyncOutcome, SyncState, SyncStateKind, SyncTrigger } from '../sync/index.ts';

/** The sync's states, triggers and outcomes in the words people read on the pages (never the stored names). */
export const STATE_LABELS: Record<SyncStateKind, string> = {
  'never-synced': 'Never synced',
  'in-sync': 'In sync',
  'out-of-date': 'Out of date',
  failed: 'Failed',
};

const TRIGGER_WORDS: Record<SyncTrigger, string> = {
  'own-photo-view': 'Opened Files, Sites or their profile',
  'set-my-profile-picture': 'Set a picture through the Sites API',
  admin: 'An admin asked',
  cli: 'The command line',
  'on-change': 'Mail photo changed',
  scheduled: 'Scheduled sync',
};

const OUTCOME_WORDS: Record<SyncOutcome, string> = {
  unchanged: 'Already up to date',
  synced: 'Copied the new photo',
  placeholder: 'Went back to initials (no photo in Mail)',
  failed: 'Failed',
};

export function triggerWords(trigger: string | null): string {
  if (!trigger) return '-';
  return Object.hasOwn(TRIGGER_WORDS, trigger) ? TRIGGER_WORDS[trigger as SyncTrigger] : trigger;
}

export function outcomeWords(outcome: string): string {
  return Object.hasOwn(OUTCOME_WORDS, outcome) ? OUTCOME_WORDS[outcome as SyncOutcome] : outcome;
}

/** One sentence for a state, about "you" (the person's own pages) or about someone an admin looks at. */
export function describeState(state: SyncState, whose: 'yours' | 'theirs'): string {
  const you = whose === 'yours';
  switch (state.state) {
    case 'never-synced':
      return you
        ? 'Never synced: Sites has not yet looked at your Mail photo.'
        : 'Never synced: Sites has not yet looked at their Mail photo.';
    case 'in-sync':
      if (!state.mailEtag)
        return you
          ? 'In sync: you have no photo in Mail, so Sites shows your initials.'
          : 'In sync: no photo in Mail, so Sites shows their initials.';
      return you ? 'In sync: Sites shows the same photo as Mail.' : 'In sync: Sites shows the same photo as Mail.';
    case 'out-of-date':
      return state.mailEtag
        ? 'Out of date: Mail has a newer photo than Sites shows.'
        : 'Out of date: the photo was removed from Mail, and Sites still shows the old one.';
    case 'failed':
      return 'Failed: the last sync did not work, so Sites still shows the previous copy.';
  }
}
