import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SiteProfile } from '../../src/sites/index.ts';
import { describeSyncState } from '../../src/sync/sync-state.ts';

/** Sites' record of someone it has looked at, showing Mail version "v1". */
const checked = (changes: Partial<SiteProfile> = {}): SiteProfile => ({
  personId: 'ada',
  syncedEtag: 'v1',
  pictureTimestamp: '1700000000',
  lastCheckedAt: '2024-05-01T10:00:00.000Z',
  lastSyncedAt: '2024-05-01T10:00:00.000Z',
  lastError: null,
  lastErrorAt: null,
  lastTrigger: 'admin',
  pictureName: 'ada_contoso_com',
  ...changes,
});

test('a person Sites has never looked at is never synced, whatever Mail holds', () => {
  assert.equal(describeSyncState(undefined, 'v1').state, 'never-synced');
  assert.equal(describeSyncState(undefined, null).state, 'never-synced');
  assert.equal(describeSyncState(checked({ syncedEtag: null, lastCheckedAt: null, lastSyncedAt: null }), null).state, 'never-synced');
});

test('Sites showing the version Mail holds now is in sync, and no photo on both sides is in sync too', () => {
  assert.equal(describeSyncState(checked(), 'v1').state, 'in-sync');
  // Looked, found no photo in Mail and none in Sites: nothing was ever copied, and nothing needs to be.
  assert.equal(describeSyncState(checked({ syncedEtag: null, lastSyncedAt: null }), null).state, 'in-sync');
});

test('Sites showing another version than Mail, or a photo Mail no longer has, is out of date', () => {
  assert.equal(describeSyncState(checked(), 'v2').state, 'out-of-date');
  assert.equal(describeSyncState(checked(), null).state, 'out-of-date');
  assert.equal(describeSyncState(checked({ syncedEtag: null }), 'v1').state, 'out-of-date');
});

test('a last sync that failed is failed with its reason, even when the versions match', () => {
  const failed = describeSyncState(checked({ lastError: 'The photo could not be read.', lastErrorAt: '2024-05-02T10:00:00.000Z' }), 'v1');
  assert.equal(failed.state, 'failed');
  assert.equal(failed.reason, 'The photo could not be read.');
});

test('the state carries both versions and when and why Sites last looked', () => {
  assert.deepEqual(describeSyncState(checked({ lastCheckedAt: '2024-05-03T09:00:00.000Z', lastTrigger: 'own-photo-view' }), 'v2'), {
    state: 'out-of-date',
    mailEtag: 'v2',
    syncedEtag: 'v1',
    lastCheckedAt: '2024-05-03T09:00:00.000Z',
    lastSyncedAt: '2024-05-01T10:00:00.000Z',
    lastTrigger: 'own-photo-view',
    reason: null,
  });
});
