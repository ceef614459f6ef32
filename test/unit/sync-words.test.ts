import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SYNC_STATE_KINDS, type SyncOutcome, type SyncState, type SyncStateKind, type SyncTrigger } from '../../src/sync/index.ts';
import { describeState, outcomeWords, STATE_LABELS, triggerWords } from '../../src/web/sync-words.ts';

const TRIGGERS: readonly SyncTrigger[] = ['own-photo-view', 'set-my-profile-picture', 'admin', 'cli', 'on-change', 'scheduled'];
const OUTCOMES: readonly SyncOutcome[] = ['unchanged', 'synced', 'placeholder', 'failed'];

const stateOf = (state: SyncStateKind, mailEtag: string | null): SyncState => ({
  state,
  mailEtag,
  syncedEtag: 'v1',
  lastCheckedAt: '2024-05-01T10:00:00.000Z',
  lastSyncedAt: '2024-05-01T10:00:00.000Z',
  lastTrigger: 'admin',
  reason: null,
});

test('triggers and outcomes are shown in words, never by their stored names', () => {
  for (const trigger of TRIGGERS) assert.notEqual(triggerWords(trigger), trigger, trigger);
  for (const outcome of OUTCOMES) assert.notEqual(outcomeWords(outcome), outcome, outcome);
  assert.equal(triggerWords('on-change'), 'Mail photo changed');
  assert.equal(outcomeWords('placeholder'), 'Went back to initials (no photo in Mail)');
});

test('a trigger or outcome without words (from a newer version) is shown as stored; no trigger is a dash', () => {
  assert.equal(triggerWords('webhook'), 'webhook');
  assert.equal(outcomeWords('skipped'), 'skipped');
  assert.equal(triggerWords('toString'), 'toString', 'a name the words do not own is not looked up on the prototype');
  assert.equal(triggerWords(null), '-');
});

test("a state's sentence starts with its label, about you or about them", () => {
  for (const state of SYNC_STATE_KINDS) {
    for (const whose of ['yours', 'theirs'] as const) {
      for (const mailEtag of ['v2', null]) {
        assert.ok(
          describeState(stateOf(state, mailEtag), whose).startsWith(`${STATE_LABELS[state]}: `),
          `${state}, ${whose}, Mail ${mailEtag}`,
        );
      }
    }
  }
});

test('in sync without a Mail photo says Sites shows initials, to the person and to an admin', () => {
  assert.equal(describeState(stateOf('in-sync', null), 'yours'), 'In sync: you have no photo in Mail, so Sites shows your initials.');
  assert.equal(describeState(stateOf('in-sync', null), 'theirs'), 'In sync: no photo in Mail, so Sites shows their initials.');
});

test('out of date tells a newer Mail photo from one removed from Mail', () => {
  assert.match(describeState(stateOf('out-of-date', 'v2'), 'yours'), /Mail has a newer photo/);
  assert.match(describeState(stateOf('out-of-date', null), 'yours'), /removed from Mail, and Sites still shows the old one/);
});
