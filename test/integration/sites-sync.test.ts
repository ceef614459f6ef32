import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import sharp from 'sharp';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto, meanColor } from '../support/images.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

const RED = '#d01010';
const GREEN = '#10c020';
const solid = (color: string, side = 800) => makePhoto('jpeg', side, side, { color, marker: color });

/** Which of the test photos an image shows, judged by its pixels. */
async function shows(bytes: Buffer): Promise<'red' | 'green' | 'other'> {
  const [r, g, b] = await meanColor(bytes);
  if (r > 150 && g < 80 && b < 80) return 'red';
  if (g > 140 && r < 80 && b < 100) return 'green';
  return 'other';
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`Sites and the user-initiated sync on ${kind}`, { skip }, () => {
    let t: TestApp;
    let counter = 0;
    let person: Person;
    let colleague: Person;
    /** A colleague's API token: a signed-in viewer who never triggers anyone's sync. */
    let viewer: Record<string, string>;

    before(async () => {
      t = await startTestApp(kind);
      colleague = await t.addPerson('colleague@contoso.example');
      viewer = bearer(await t.tokenFor(colleague));
    });
    after(() => t.close());
    beforeEach(async () => {
      person = await t.addPerson(`person${++counter}@contoso.example`);
    });

    const setMailPhoto = async (who: Person, bytes: Buffer) => {
      await t.services.mail.setPhoto(CLI_ACTOR, who, bytes, 'cli');
    };
    const sitesPhoto = (who: Person, size: 'S' | 'M' | 'L', headers: Record<string, string> = viewer) =>
      t.app.inject({
        method: 'GET',
        url: `/_layouts/15/userphoto.aspx?size=${size}&accountname=${encodeURIComponent(who.userPrincipalName)}`,
        headers,
      });
    const runsOf = async (who: Person) => t.services.sync.getSyncHistory(who, 100);
    const properties = async (who: Person) => Object.fromEntries((await t.services.sites.getProperties(who)).map((p) => [p.key, p.value]));

    test('a person with no synced photo gets a placeholder in every size, never a broken image', async () => {
      for (const [size, side] of [
        ['S', 48],
        ['M', 72],
        ['L', 300],
      ] as const) {
        const response = await sitesPhoto(person, size);
        assert.equal(response.statusCode, 200);
        assert.equal(response.headers['content-type'], 'image/jpeg');
        const meta = await sharp(response.rawPayload).metadata();
        assert.deepEqual([meta.width, meta.height], [side, side]);
      }
      const again = await sitesPhoto(person, 'M');
      assert.deepEqual(again.rawPayload, (await sitesPhoto(person, 'M')).rawPayload, 'the placeholder is stable');
      assert.equal((await properties(person))['SPS-PicturePlaceholderState'], '1');
    });

    test('sites never syncs from the directory photo', async () => {
      await t.services.directory.setDirectoryPhoto(person.id, await solid(RED, 96));
      const cookie = await t.signIn(person.userPrincipalName);
      const own = await sitesPhoto(person, 'L', { cookie });
      // Judged by the ETag and bytes, not by colour: a placeholder's colour comes from the person's
      // id and may itself be red.
      assert.match(own.headers.etag as string, /^"placeholder-/);
      assert.deepEqual(own.rawPayload, (await sitesPhoto(person, 'L')).rawPayload, 'the same placeholder everyone sees');
      assert.equal(await t.services.sites.getThumbnailSet(person).then((set) => set.length), 0, 'no thumbnail was stored');
      const [run] = await runsOf(person);
      assert.equal(run?.outcome, 'unchanged', 'the sync ran, found no Mail photo, and took nothing');
      assert.equal((await properties(person))['SPS-PicturePlaceholderState'], '1');
    });

    test('a photo change in mail does not reach sites until the person opens their own sites photo', async () => {
      await setMailPhoto(person, await solid(RED));
      const token = await t.tokenFor(person);
      assert.match((await sitesPhoto(person, 'L', bearer(token))).headers.etag as string, /^"placeholder-/, 'a token never triggers');
      const session = await t.signIn(person.userPrincipalName);
      assert.match(
        (await sitesPhoto(person, 'M', { cookie: session })).headers.etag as string,
        /^"placeholder-/,
        'only L triggers by default',
      );
      assert.equal((await runsOf(person)).length, 0);

      const opened = await sitesPhoto(person, 'L', { cookie: session });
      assert.equal(await shows(opened.rawPayload), 'red', 'the first request of a fresh session syncs and shows the new photo');
      assert.equal((await sharp(opened.rawPayload).metadata()).width, 300);
      assert.equal(await shows((await sitesPhoto(person, 'S')).rawPayload), 'red', 'and everyone sees it from then on');

      await setMailPhoto(person, await solid(GREEN));
      assert.equal(
        await shows((await sitesPhoto(person, 'L', { cookie: session })).rawPayload),
        'red',
        'the same session re-checks only after the interval',
      );
      const fresh = await t.signIn(person.userPrincipalName);
      assert.equal(await shows((await sitesPhoto(person, 'L', { cookie: fresh })).rawPayload), 'green', 'a fresh sign-in always checks');
    });

    test("other people's views never trigger a sync", async () => {
      await setMailPhoto(person, await solid(RED));
      const cookie = await t.signIn(colleague.userPrincipalName);
      for (const size of ['S', 'M', 'L'] as const) {
        assert.match((await sitesPhoto(person, size, { cookie })).headers.etag as string, /^"placeholder-/);
        assert.match((await sitesPhoto(person, size)).headers.etag as string, /^"placeholder-/, 'nor API tokens');
        assert.equal((await sitesPhoto(person, size, {})).statusCode, 401, 'anonymous visitors see no photos at all');
      }
      const file = await t.app.inject({
        method: 'GET',
        url: `/User%20Photos/Profile%20Pictures/${person.userPrincipalName.replace(/[@.]/g, '_')}_LThumb.jpg`,
        headers: { cookie },
      });
      assert.equal(file.statusCode, 200);
      assert.equal((await runsOf(person)).length, 0);
    });

    test('an unchanged photo is not re-rendered', async () => {
      await setMailPhoto(person, await solid(RED));
      await sitesPhoto(person, 'L', { cookie: await t.signIn(person.userPrincipalName) });
      const before = { props: await properties(person), bytes: (await sitesPhoto(person, 'L')).rawPayload };
      await sitesPhoto(person, 'L', { cookie: await t.signIn(person.userPrincipalName) });
      const [latest] = await runsOf(person);
      assert.equal(latest?.outcome, 'unchanged');
      const after = await properties(person);
      assert.equal(after['SPS-PictureTimestamp'], before.props['SPS-PictureTimestamp']);
      assert.deepEqual((await sitesPhoto(person, 'L')).rawPayload, before.bytes);
      assert.notEqual(after['PhotoSync-LastChecked'], '');
    });

    test('a removed mail photo returns sites to the placeholder', async () => {
      await setMailPhoto(person, await solid(RED));
      await t.services.sync.syncProfilePhoto(person, 'admin');
      assert.equal((await properties(person))['SPS-PicturePlaceholderState'], '0');
      await t.services.mail.removePhoto(CLI_ACTOR, person);
      const result = await t.services.sync.syncProfilePhoto(person, 'admin');
      assert.equal(result.outcome, 'placeholder');
      assert.match((await sitesPhoto(person, 'L')).headers.etag as string, /^"placeholder-/);
      const props = await properties(person);
      assert.equal(props['SPS-PicturePlaceholderState'], '1');
      assert.equal(props.PictureURL, '');
      assert.deepEqual(await t.services.sites.getThumbnailSet(person), []);
    });

    test('concurrent triggers run one sync', async () => {
      await setMailPhoto(person, await solid(RED));
      const results = await Promise.all(Array.from({ length: 25 }, () => t.services.sync.syncProfilePhoto(person, 'admin')));
      assert.ok(
        results.every((r) => r === results[0]),
        "every caller gets the one run's result",
      );
      const runs = await runsOf(person);
      assert.deepEqual(
        runs.map((r) => r.outcome),
        ['synced'],
      );

      // Through HTTP too: many simultaneous requests of one fresh session.
      await setMailPhoto(person, await solid(GREEN));
      const cookie = await t.signIn(person.userPrincipalName);
      const responses = await Promise.all(Array.from({ length: 10 }, () => sitesPhoto(person, 'L', { cookie })));
      for (const response of responses) assert.equal(await shows(response.rawPayload), 'green');
      assert.equal((await runsOf(person)).filter((r) => r.outcome === 'synced').length, 2);
    });

    test('a failed sync keeps the previous copy and records why', async () => {
      await setMailPhoto(person, await solid(RED));
      await t.services.sync.syncProfilePhoto(person, 'admin');
      await setMailPhoto(person, await solid(GREEN));
      // Damage the new Mail photo's bytes behind the service's back, as a broken disk would.
      const version = await t.services.mail.getPhoto(CLI_ACTOR, person, { fresh: true });
      await t.services.database.db
        .updateTable('photo_renditions')
        .set({ bytes: Buffer.from('not a jpeg any more') })
        .where('version_id', '=', version.id)
        .execute();

      const result = await t.services.sync.syncProfilePhoto(person, 'admin');
      assert.equal(result.outcome, 'failed');
      assert.match(result.error ?? '', /could not be read/);
      assert.equal(await shows((await sitesPhoto(person, 'L')).rawPayload), 'red', 'Sites still shows the previous copy');
      const state = await t.services.sync.getSyncState(person);
      assert.equal(state.state, 'failed');
      assert.match(state.reason ?? '', /could not be read/);
    });

    test('S, M and L always come from one version', async () => {
      const red = await solid(RED);
      const green = await solid(GREEN);
      let syncing = true;
      const swaps = (async () => {
        for (let i = 0; i < 6; i++) {
          await setMailPhoto(person, i % 2 ? green : red);
          await t.services.sync.syncProfilePhoto(person, 'admin');
        }
        syncing = false;
      })();
      let reads = 0;
      while (syncing) {
        const set = await t.services.sites.getThumbnailSet(person);
        if (set.length > 0) {
          assert.equal(set.length, 3);
          assert.equal(new Set(set.map((s) => s.sourceEtag)).size, 1, 'one version across S, M and L');
        }
        reads++;
        await new Promise((r) => setImmediate(r));
      }
      await swaps;
      assert.ok(reads > 5, `read while syncing (${reads} reads)`);
      const [s, m, l] = await Promise.all((['S', 'M', 'L'] as const).map((size) => sitesPhoto(person, size)));
      const tag = (r: typeof s) => (r!.headers.etag as string).replace(/-[SML]"$/, '');
      assert.equal(tag(s), tag(m));
      assert.equal(tag(m), tag(l));
    });

    test('L is 300 pixels on its longest side and never enlarged', async () => {
      await setMailPhoto(person, await solid(RED, 200));
      await t.services.sync.syncProfilePhoto(person, 'admin');
      const sizes = await Promise.all(
        (['S', 'M', 'L'] as const).map(async (size) => (await sharp((await sitesPhoto(person, size)).rawPayload).metadata()).width),
      );
      assert.deepEqual(sizes, [48, 72, 120], 'a 200 px upload is stored up to 120 in Mail, so L stays 120');
    });

    test('userphoto.aspx answers If-None-Match with 304 and refuses unknown sizes', async () => {
      const first = await sitesPhoto(person, 'S');
      const again = await t.app.inject({
        method: 'GET',
        url: `/_layouts/15/userphoto.aspx?size=S&accountname=${person.userPrincipalName}`,
        headers: { ...viewer, 'if-none-match': first.headers.etag as string },
      });
      assert.equal(again.statusCode, 304);
      assert.equal(
        first.headers['cache-control'],
        'private, max-age=60, must-revalidate',
        "a colleague's photo at a URL without its version is kept a minute, then revalidated",
      );
      const bad = await t.app.inject({
        method: 'GET',
        url: `/_layouts/15/userphoto.aspx?size=XL&accountname=${person.userPrincipalName}`,
        headers: viewer,
      });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.json().error.message, /photo size must be S, M or L/);
      const unknown = await t.app.inject({
        method: 'GET',
        url: '/_layouts/15/userphoto.aspx?size=S&accountname=nobody@contoso.example',
        headers: viewer,
      });
      assert.equal(unknown.statusCode, 404);
      const anonymous = await t.app.inject({ method: 'GET', url: '/_layouts/15/userphoto.aspx?size=S&accountname=nobody@contoso.example' });
      assert.equal(anonymous.statusCode, 401, 'anonymous visitors cannot learn who exists');
    });
  });
}
