import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { corruptMailPhoto, waitFor } from '../support/sync-fixtures.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

let colour = 0;
/** A photo no other test uses (a new colour each time), so every upload is a new version. */
const newPhoto = () => {
  colour += 37;
  const hex = `#${(0x102030 + colour * 0x010305).toString(16).slice(-6)}`;
  return makePhoto('jpeg', 320, 320, { color: hex, marker: '#000000' });
};

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`sync modes on ${kind}`, { skip }, () => {
    let t: TestApp;
    let counter = 0;

    before(async () => {
      // Retries back off in milliseconds here (on SQLite), so the retry rule is quick to see.
      t = await startTestApp(kind, {}, { retryDelayMs: 20 });
      await t.services.syncAutomation.startWorkers();
      // Everyone else: a colleague's token, which never triggers a sync.
      viewer = bearer(await t.tokenFor(await t.addPerson('viewer@contoso.example')));
    });
    after(() => t.close());

    const newPerson = () => t.addPerson(`mode${++counter}@contoso.example`);
    const setMode = (mode: string, intervalMinutes = 60) => t.services.syncAdmin.changeSettings(CLI_ACTOR, { mode, intervalMinutes });
    const state = (who: Person) => t.services.sync.getSyncState(who);
    const runsOf = (who: Person) => t.services.sync.getSyncHistory(who, 100);
    let viewer: Record<string, string>;
    const servedEtag = async (who: Person) =>
      (
        await t.app.inject({
          method: 'GET',
          url: `/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(who.userPrincipalName)}`,
          headers: viewer,
        })
      ).headers.etag as string;

    test('user-initiated mode never syncs without the person', async () => {
      await setMode('user-initiated');
      const person = await newPerson();
      await t.services.mail.setPhoto(CLI_ACTOR, person, await newPhoto(), 'cli');
      await t.services.syncAutomation.tick();
      await t.services.syncAutomation.whenIdle();
      assert.deepEqual(await runsOf(person), []);
      assert.equal((await state(person)).state, 'never-synced');
      assert.match(await servedEtag(person), /^"placeholder-/, 'everyone else still sees the placeholder');
    });

    test('on-change mode syncs within one second', async () => {
      await setMode('on-change');
      const person = await newPerson();
      const token = await t.tokenFor(person);
      for (let round = 0; round < 3; round++) {
        const upload = await t.app.inject({
          method: 'PUT',
          url: '/v1.0/me/photo/$value',
          headers: { ...bearer(token), 'content-type': 'image/jpeg' },
          payload: await newPhoto(),
        });
        assert.equal(upload.statusCode, 200);
        const committed = performance.now();
        const mailEtag = (await t.services.mail.getPhoto(CLI_ACTOR, person)).etag;
        await waitFor(async () => (await servedEtag(person)) === `"${mailEtag}-L"`, 1000, 'userphoto.aspx to serve the new photo');
        assert.ok(performance.now() - committed < 1000);
      }
      const triggers = new Set((await runsOf(person)).map((run) => run.trigger));
      assert.deepEqual([...triggers], ['on-change']);
    });

    test('scheduled mode syncs only out-of-date people', async () => {
      await setMode('user-initiated');
      const inSync = await newPerson();
      const outOfDate = await newPerson();
      await t.services.mail.setPhoto(CLI_ACTOR, inSync, await newPhoto(), 'cli');
      await t.services.mail.setPhoto(CLI_ACTOR, outOfDate, await newPhoto(), 'cli');
      await t.services.sync.syncProfilePhoto(inSync, 'admin');
      await t.services.sync.syncProfilePhoto(outOfDate, 'admin');
      await t.services.mail.setPhoto(CLI_ACTOR, outOfDate, await newPhoto(), 'cli');
      const neverChecked = await newPerson();
      // Everyone from earlier tests counts too: bring them in sync first, so this sweep's work is known.
      for (const stale of await t.services.syncStatus.listOutOfDate(10_000)) {
        if (stale !== outOfDate.id && stale !== neverChecked.id)
          await t.services.sync.syncProfilePhoto((await t.services.directory.findPerson(stale))!, 'admin');
      }

      await setMode('scheduled', 60);
      await t.services.syncAutomation.tick();
      await t.services.syncAutomation.whenIdle();

      assert.equal((await runsOf(inSync)).length, 1, 'the in-sync person is left alone');
      assert.deepEqual(
        (await runsOf(outOfDate)).map((r) => [r.trigger, r.outcome]),
        [
          ['scheduled', 'synced'],
          ['admin', 'synced'],
        ],
      );
      assert.deepEqual(
        (await runsOf(neverChecked)).map((r) => [r.trigger, r.outcome]),
        [['scheduled', 'unchanged']],
      );
      assert.equal((await state(outOfDate)).state, 'in-sync');

      await t.services.mail.setPhoto(CLI_ACTOR, inSync, await newPhoto(), 'cli');
      await t.services.syncAutomation.tick();
      await t.services.syncAutomation.whenIdle();
      assert.equal((await runsOf(inSync)).length, 1, 'the next sweep waits for the interval');
    });

    test('the scheduled sweep takes the longest-unchecked people first', async () => {
      const ids = await t.services.syncStatus.listOutOfDate(10_000);
      const profiles = await Promise.all(ids.map((id) => t.services.sites.getProfile(id)));
      const checked = profiles.map((p) => p?.lastCheckedAt ?? '');
      assert.deepEqual(checked, [...checked].sort(), 'never checked (empty) first, then oldest check');
    });

    test('a failing sync job is retried with backoff, then recorded as failed with its reason', async () => {
      // The photo is broken in the store before the change event queues its job.
      await setMode('user-initiated');
      const person = await newPerson();
      await t.services.mail.setPhoto(CLI_ACTOR, person, await newPhoto(), 'cli');
      await corruptMailPhoto(t, person);
      // Switching to on-change queues whoever is behind: this person, once.
      await setMode('on-change');
      // pg-boss's smallest retry delay is a second; two attempts show the retry there.
      const attempts = kind === 'sqlite' ? 4 : 2;
      await waitFor(async () => (await runsOf(person)).length >= attempts, kind === 'sqlite' ? 5000 : 15_000, `${attempts} attempts`);
      const runs = await runsOf(person);
      assert.ok(runs.every((r) => r.outcome === 'failed' && r.trigger === 'on-change'));
      if (kind === 'sqlite') {
        await t.services.syncAutomation.whenIdle();
        assert.equal((await runsOf(person)).length, 4, 'the first attempt and three retries, then no more');
      }
      const now = await state(person);
      assert.equal(now.state, 'failed');
      assert.match(now.reason ?? '', /could not be read/);
      await setMode('user-initiated');
    });
  });
}
