/** How Sites follows Mail: the Microsoft 365 default, or the two modes it lacks. */
export const SYNC_MODES = ['user-initiated', 'on-change', 'scheduled'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];
