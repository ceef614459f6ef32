import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto, meanColor } from '../support/images.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

/*
 * The hot photo reads answered from memory (src/web/photo-fast-path.ts) must be the full routes'
 * answers, byte for byte and header for header, by the same access rules. Each read is made twice
 * over real HTTP: the first (cold caches) goes through fastify's route, the second from memory.
 */

/** Headers that differ between any two answers. */
const PER_ANSWER = new Set(['date', 'request-id', 'connection', 'keep-alive']);

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`hot photo reads from memory (${kind})`, { skip }, () => {
    let t: TestApp;
    let base: string;
    let ada: Person;
    let grace: Person;
    let graceToken: string;
    let graceCookie: string;
    // The services' clock: a token's expiry is tested within the seconds memory holds it.
    let clock = new Date('2026-06-01T12:00:00Z');

    before(async () => {
      t = await startTestApp(kind, {}, { now: () => clock });
      base = await t.app.listen({ port: 0, host: '127.0.0.1' });
      ada = await t.addPerson('ada@contoso.example');
      grace = await t.addPerson('grace@contoso.example');
      await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 300, 300, { color: '#3366cc' }), 'cli');
      await t.services.sync.syncProfilePhoto(ada, 'admin');
      graceToken = await t.tokenFor(grace);
      graceCookie = await t.signIn(grace.userPrincipalName);
    });
    after(() => t.close());

    const fastReads = async () => (await t.services.metrics.fastPhotoReads.get()).values.reduce((sum, v) => sum + v.value, 0);

    const get = async (path: string, headers: Record<string, string>): Promise<Answer> => {
      const response = await fetch(`${base}${path}`, { headers });
      const answer: Answer = { status: response.status, headers: {}, body: Buffer.from(await response.arrayBuffer()) };
      response.headers.forEach((value, name) => {
        if (!PER_ANSWER.has(name)) answer.headers[name] = value;
      });
      return answer;
    };

    /** The same read twice: the first through the route, the second from memory; both answers. */
    const readTwice = async (path: string, headers: Record<string, string>) => {
      const before = await fastReads();
      const full = await get(path, headers);
      const between = await fastReads();
      const fast = await get(path, headers);
      assert.equal(between, before, `the first read of ${path} went through the route`);
      return { full, fast, fromMemory: (await fastReads()) - between === 1 };
    };

    const hotPaths = () => [
      '/_layouts/15/userphoto.aspx?size=S&accountname=ada%40contoso.example',
      '/_layouts/15/userphoto.aspx?size=l&accountname=i%3A0%23.f%7Cmembership%7Cada%40contoso.example',
      '/_layouts/15/userphoto.aspx?accountname=ADA@contoso.example',
      '/User%20Photos/Profile%20Pictures/ada_contoso_example_MThumb.jpg',
      `/v1.0/users/${ada.id}/photos/48x48/$value`,
      '/v1.0/users/ada%40contoso.example/photo/$value',
      '/v1.0/users/ada@contoso.example/photos/240x240/$value?v=anything',
    ];

    for (const credential of ['bearer token', 'session cookie'] as const) {
      test(`every hot read answered from memory is the route's answer (${credential})`, async () => {
        const headers: Record<string, string> =
          credential === 'bearer token' ? { authorization: `Bearer ${graceToken}` } : { cookie: graceCookie };
        // The Sites profile names the picture files (the first sync of Sites gives the name).
        await t.services.sites.getProperties(ada);
        for (const path of hotPaths()) {
          // Wait out the caches so the first read is cold.
          t.services.mail.forgetCachedPhoto(ada.id);
          t.services.sites.forgetCachedThumbnails(ada.id);
          const { full, fast, fromMemory } = await readTwice(path, headers);
          assert.equal(full.status, 200, `${path}: ${full.body.toString().slice(0, 200)}`);
          assert.ok(fromMemory, `${path} was answered from memory the second time`);
          assert.deepEqual(fast.headers, full.headers, path);
          assert.ok(fast.body.equals(full.body), `${path}: the same bytes`);
          assert.equal(fast.headers['x-content-type-options'], 'nosniff');
          assert.match(fast.headers['content-type']!, /^image\/(jpeg|png)$/);
        }
      });

      test(`a revalidation with the current ETag gets 304 from memory, as from the route (${credential})`, async () => {
        const headers: Record<string, string> =
          credential === 'bearer token' ? { authorization: `Bearer ${graceToken}` } : { cookie: graceCookie };
        const path = `/v1.0/users/${ada.id}/photos/96x96/$value`;
        const etag = (await get(path, headers)).headers.etag!;
        t.services.mail.forgetCachedPhoto(ada.id);
        const { full, fast, fromMemory } = await readTwice(path, { ...headers, 'if-none-match': etag });
        assert.equal(full.status, 304);
        assert.ok(fromMemory);
        assert.deepEqual(fast, full);
      });
    }

    test("a URL naming the current version is kept for good, any other a minute, and the viewer's own Sites photo is asked for each time", async () => {
      const headers = { authorization: `Bearer ${graceToken}` };
      const mailEtag = (await t.services.mail.getPhoto(CLI_ACTOR, ada)).etag;
      const syncedEtag = (await t.services.sites.getProfile(ada.id))!.syncedEtag!;
      const keptFor = async (path: string, requestHeaders: Record<string, string>) => {
        t.services.mail.forgetCachedPhoto(ada.id);
        t.services.sites.forgetCachedThumbnails(ada.id);
        const { full, fast } = await readTwice(path, requestHeaders);
        assert.equal(fast.headers['cache-control'], full.headers['cache-control'], path);
        return full.headers['cache-control'];
      };
      const forGood = 'private, max-age=31536000, immutable';
      const aMinute = 'private, max-age=60, must-revalidate';
      assert.equal(await keptFor(`/v1.0/users/${ada.id}/photo/$value?v=${mailEtag}`, headers), forGood);
      assert.equal(await keptFor(`/v1.0/users/${ada.id}/photo/$value?v=0123`, headers), aMinute);
      assert.equal(await keptFor(`/v1.0/users/${ada.id}/photos/64x64/$value`, headers), aMinute);
      assert.equal(await keptFor(`/_layouts/15/userphoto.aspx?size=M&accountname=ada@contoso.example&t=${syncedEtag}`, headers), forGood);
      assert.equal(await keptFor('/_layouts/15/userphoto.aspx?size=M&accountname=ada@contoso.example', headers), aMinute);
      assert.equal(await keptFor(`/User%20Photos/Profile%20Pictures/ada_contoso_example_SThumb.jpg?t=${syncedEtag}`, headers), forGood);
      const own = await get(`/_layouts/15/userphoto.aspx?size=S&accountname=ada@contoso.example&t=${syncedEtag}`, {
        cookie: await t.signIn(ada.userPrincipalName),
      });
      assert.equal(own.headers['cache-control'], 'private, no-cache');
    });

    test("a person's own Sites photo is never answered from memory: its request is where the sync hooks in", async () => {
      const adaCookie = await t.signIn(ada.userPrincipalName);
      const path = '/_layouts/15/userphoto.aspx?size=L&accountname=ada@contoso.example';
      await get(path, { cookie: adaCookie });
      // A new Mail photo: Ada's own view of her L photo brings it to Sites at once.
      await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 300, 300, { color: '#22aa55' }), 'cli');
      const { fast, fromMemory } = await readTwice(path, { cookie: await t.signIn(ada.userPrincipalName) });
      assert.equal(fromMemory, false);
      const [, green] = await meanColor(fast.body);
      assert.ok(green > 120, 'the view synced the new photo');
    });

    test('a revoked token is refused at once, though memory held it', async () => {
      const { id, token } = await t.services.identity.createApiToken(CLI_ACTOR, grace, 'soon revoked');
      const path = `/v1.0/users/${ada.id}/photos/48x48/$value`;
      const { fromMemory } = await readTwice(path, { authorization: `Bearer ${token}` });
      assert.ok(fromMemory);
      await t.services.identity.revokeApiToken(CLI_ACTOR, id);
      const refused = await get(path, { authorization: `Bearer ${token}` });
      assert.equal(refused.status, 401);
    });

    test('a token that expires while memory holds it is refused from that moment', async () => {
      const { token } = await t.services.identity.createApiToken(CLI_ACTOR, grace, 'two seconds', { expiresInMs: 2000 });
      const path = `/v1.0/users/${ada.id}/photos/48x48/$value`;
      const { fromMemory } = await readTwice(path, { authorization: `Bearer ${token}` });
      assert.ok(fromMemory);
      clock = new Date(clock.getTime() + 3000);
      const refused = await get(path, { authorization: `Bearer ${token}` });
      assert.equal(refused.status, 401);
      assert.match(refused.body.toString(), /expired/);
    });

    test('a signed-out session is refused at once, though memory held it', async () => {
      const cookie = await t.signIn(grace.userPrincipalName);
      const path = '/_layouts/15/userphoto.aspx?size=M&accountname=ada@contoso.example';
      const { fromMemory } = await readTwice(path, { cookie });
      assert.ok(fromMemory);
      const session = /photosync_session=([^;]+)/.exec(cookie)![1]!;
      await t.services.identity.signOut(session);
      const refused = await get(path, { cookie });
      assert.equal(refused.status, 401);
    });

    test('a bad bearer token with a valid session cookie is refused, never answered for the cookie', async () => {
      const path = '/_layouts/15/userphoto.aspx?size=M&accountname=ada@contoso.example';
      await get(path, { cookie: graceCookie });
      const refused = await get(path, { cookie: graceCookie, authorization: 'Bearer psk_not-a-token' });
      assert.equal(refused.status, 401);
    });

    test("a photo changed in Mail is read anew from memory's first miss, never the old bytes", async () => {
      const path = '/v1.0/users/ada@contoso.example/photos/48x48/$value';
      const headers = { authorization: `Bearer ${graceToken}` };
      const before = await readTwice(path, headers);
      await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 300, 300, { color: '#cc3333' }), 'cli');
      const after = await get(path, headers);
      assert.notEqual(after.headers.etag, before.fast.headers.etag);
      const [red] = await meanColor(after.body);
      assert.ok(red > 150);
    });
  });
}
