import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServices } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { photoContentEtag } from '../../src/mail/index.ts';
import { createScratchPostgres, DATABASE_KINDS, postgresSkipReason } from '../support/databases.ts';
import { makePhoto, meanColor } from '../support/images.ts';
import { freePort, KillableServer } from '../support/killable-server.ts';
import { bearer, startTestApp, TEST_PASSWORD, type TestApp } from '../support/test-app.ts';

const RED = '#d01010';
const GREEN = '#10c020';
const solid = (color: string, side = 400) => makePhoto('jpeg', side, side, { color, marker: color });
const colourOf = async (bytes: Buffer) => {
  const [r, g] = await meanColor(bytes);
  return r > g ? 'red' : 'green';
};

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`concurrency on ${kind}`, { skip }, () => {
    let t: TestApp;
    let counter = 0;
    const newPerson = (role: 'user' | 'admin' = 'user') => t.addPerson(`c${++counter}@contoso.example`, { role });
    const runsOf = (who: Person) => t.services.sync.getSyncHistory(who, 100);

    before(async () => {
      // Every own-photo request checks (no per-session throttle), so 50 requests are 50 triggers.
      t = await startTestApp(kind, { SYNC_SESSION_RECHECK_MINUTES: '0' });
    });
    after(() => t.close());

    test('50 simultaneous triggers for one person run exactly one sync', async () => {
      const person = await newPerson();
      await t.services.mail.setPhoto(CLI_ACTOR, person, await solid(RED), 'cli');
      const cookie = await t.signIn(person.userPrincipalName);
      const viaHttp = Array.from({ length: 25 }, () =>
        t.app.inject({
          method: 'GET',
          url: `/_layouts/15/userphoto.aspx?size=L&accountname=${person.userPrincipalName}`,
          headers: { cookie },
        }),
      );
      const direct = Array.from({ length: 25 }, (_, i) => t.services.sync.syncProfilePhoto(person, i % 2 ? 'admin' : 'cli'));
      const [responses, results] = await Promise.all([Promise.all(viaHttp), Promise.all(direct)]);
      assert.ok(responses.every((r) => r.statusCode === 200));
      for (const r of responses) assert.equal(await colourOf(r.rawPayload), 'red', 'every request saw the synced photo');
      assert.equal(new Set(results).size, 1, 'all callers share one result');
      // A trigger arriving after the sync finished finds the ETags equal ('unchanged'): only one renders and swaps.
      const outcomes = (await runsOf(person)).map((r) => r.outcome);
      assert.deepEqual(
        outcomes.filter((o) => o !== 'unchanged'),
        ['synced'],
        `one sync (${outcomes})`,
      );
      assert.ok(outcomes.length < 5, `the 50 triggers collapsed (${outcomes.length} runs)`);
    });

    test('two admins replacing the same photo at once end with one consistent version, last writer wins, both audited', async () => {
      const person = await newPerson();
      const [first, second] = [await newPerson('admin'), await newPerson('admin')];
      const tokens = [await t.tokenFor(first), await t.tokenFor(second)];
      for (let round = 0; round < 5; round++) {
        const photos = [await solid(RED, 300 + round), await solid(GREEN, 300 + round)];
        const responses = await Promise.all(
          photos.map((payload, i) =>
            t.app.inject({
              method: 'PUT',
              url: `/v1.0/users/${person.userPrincipalName}/photo/$value`,
              headers: { ...bearer(tokens[i]!), 'content-type': 'image/jpeg' },
              payload,
            }),
          ),
        );
        assert.deepEqual(
          responses.map((r) => r.statusCode),
          [200, 200],
        );
        const current = await t.services.mail.getPhoto(CLI_ACTOR, person, { fresh: true });
        assert.ok(photos.map(photoContentEtag).includes(current.etag), 'the photo is one of the two');
        const audit = await t.services.audit.list(CLI_ACTOR, { person: person.userPrincipalName, limit: 2 });
        assert.deepEqual(
          audit.map((e) => e.actor.name).sort(),
          [first.userPrincipalName, second.userPrincipalName].sort(),
          'both writes are audited',
        );
        assert.equal(audit[0]!.detail?.includes(current.etag), true, 'the last write audited is the one that stands');
        const sizes = await Promise.all(
          current.sizes.map((size) =>
            t.app.inject({
              method: 'GET',
              url: `/v1.0/users/${person.userPrincipalName}/photos/${size}x${size}/$value`,
              headers: bearer(tokens[0]!),
            }),
          ),
        );
        const expected = current.etag === photoContentEtag(photos[0]!) ? 'red' : 'green';
        for (const [i, r] of sizes.entries()) {
          assert.equal(r.headers.etag, `"${current.etag}-${current.sizes[i]}"`);
          assert.equal(await colourOf(r.rawPayload), expected, 'every size is of that version');
        }
      }
    });

    test('reads of S, M and L during swaps never mix versions', async () => {
      const person = await newPerson();
      const viewer = bearer(await t.tokenFor(await newPerson()));
      const photos = { red: await solid(RED), green: await solid(GREEN) };
      const etagColour = new Map([
        [photoContentEtag(photos.red), 'red'],
        [photoContentEtag(photos.green), 'green'],
      ]);
      let swapping = true;
      const swaps = (async () => {
        for (let i = 0; i < 12; i++) {
          await t.services.mail.setPhoto(CLI_ACTOR, person, i % 2 ? photos.green : photos.red, 'cli');
          await t.services.sync.syncProfilePhoto(person, 'admin');
        }
      })().finally(() => (swapping = false));
      let sets = 0;
      let reads = 0;
      // Bounded in time too: a failed swap loop must end the reads, and surface below.
      const deadline = Date.now() + 60_000;
      while (swapping && Date.now() < deadline) {
        // Let the swaps' I/O (sharp, the database) run: in-process requests alone never leave the microtask queue.
        await new Promise((resolve) => setImmediate(resolve));
        const set = await t.services.sites.getThumbnailSet(person);
        assert.ok(
          set.length === 0 || (set.length === 3 && new Set(set.map((s) => s.sourceEtag)).size === 1),
          `one version in a set: ${JSON.stringify(set)}`,
        );
        sets++;
        for (const size of ['S', 'M', 'L'] as const) {
          const r = await t.app.inject({
            method: 'GET',
            url: `/_layouts/15/userphoto.aspx?size=${size}&accountname=${person.userPrincipalName}`,
            headers: viewer,
          });
          const etag = /^"([0-9a-f]{32})-[SML]"$/.exec(r.headers.etag as string)?.[1];
          if (!etag) continue; // the placeholder before the first swap
          assert.equal(await colourOf(r.rawPayload), etagColour.get(etag), 'the bytes are the version their ETag names');
          reads++;
        }
      }
      await swaps;
      assert.ok(sets > 3 && reads > 3, `reads happened during the swaps (${sets} sets, ${reads} images)`);
    });
  });
}

describe('two server processes on one PostgreSQL database', { skip: postgresSkipReason ?? false }, () => {
  let servers: KillableServer[] = [];
  let scratch: { url: string; drop: () => Promise<void> };
  let dataDir: string;
  let person: Person;
  let adminTokens: string[];
  let personToken: string;
  const env = () => ({ DATABASE_URL: scratch.url, DATA_DIR: dataDir, SYNC_SESSION_RECHECK_MINUTES: '0' });

  const signIn = async (server: KillableServer, upn: string) => {
    const form = await fetch(`${server.url}/signin`);
    const csrfCookie = (form.headers.getSetCookie()[0] ?? '').split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
    const response = await fetch(`${server.url}/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, username: upn, password: TEST_PASSWORD }),
    });
    assert.equal(response.status, 303);
    return response.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
  };
  const sitesPhoto = (server: KillableServer, size: string, cookie?: string) =>
    fetch(`${server.url}/_layouts/15/userphoto.aspx?size=${size}&accountname=${person.userPrincipalName}`, {
      headers: cookie ? { cookie } : bearer(adminTokens[0]!),
    });

  before(async () => {
    scratch = await createScratchPostgres();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-two-'));
    const services = await createServices(loadConfig({ ...env(), LOG_LEVEL: 'silent' }));
    const passwordHash = await services.identity.hashPassword(TEST_PASSWORD);
    person = await services.directory.addPerson({ userPrincipalName: 'shared@contoso.example', passwordHash });
    const admins = [
      await services.directory.addPerson({ userPrincipalName: 'admin-a@contoso.example', role: 'admin' }),
      await services.directory.addPerson({ userPrincipalName: 'admin-b@contoso.example', role: 'admin' }),
    ];
    adminTokens = [
      (await services.identity.createApiToken(CLI_ACTOR, admins[0]!, 't')).token,
      (await services.identity.createApiToken(CLI_ACTOR, admins[1]!, 't')).token,
    ];
    personToken = (await services.identity.createApiToken(CLI_ACTOR, person, 't')).token;
    await services.mail.setPhoto(CLI_ACTOR, person, await solid(RED), 'cli');
    await services.close();
    const serverEnv = { ...env(), HOST: '127.0.0.1', LOG_LEVEL: 'warn', PHOTOSYNC_ADMIN_PASSWORD: 'a long enough admin password' };
    servers = [new KillableServer(await freePort(), serverEnv), new KillableServer(await freePort(), serverEnv)];
    await Promise.all(servers.map((server) => server.start()));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await scratch?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const syncRuns = async () => {
    const services = await createServices(loadConfig({ ...env(), LOG_LEVEL: 'silent' }));
    try {
      return await services.sync.getSyncHistory(person, 100);
    } finally {
      await services.close();
    }
  };

  test('50 simultaneous triggers across two processes run exactly one sync', async () => {
    const cookies = await Promise.all(servers.map((s) => signIn(s, person.userPrincipalName)));
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => sitesPhoto(servers[i % 2]!, 'L', cookies[i % 2])));
    assert.ok(responses.every((r) => r.status === 200));
    for (const r of responses) assert.equal(await colourOf(Buffer.from(await r.arrayBuffer())), 'red');
    const outcomes = (await syncRuns()).map((r) => r.outcome);
    assert.deepEqual(
      outcomes.filter((o) => o === 'synced'),
      ['synced'],
      `one sync renders and swaps; the other process finds it done (${outcomes})`,
    );
    // Triggers that arrive after a run finished find it done ('unchanged'); the 50 still collapse.
    assert.ok(outcomes.length < 10, `each process collapses its triggers (${outcomes.length} runs)`);
  });

  test('a swap in one process shows in the other at once (LISTEN/NOTIFY), not after its cache expires', async () => {
    const [a, b] = servers as [KillableServer, KillableServer];
    assert.equal(await colourOf(Buffer.from(await (await sitesPhoto(b, 'S')).arrayBuffer())), 'red', 'B has red in its hot cache');
    const upload = await fetch(`${a.url}/v1.0/me/photo/$value`, {
      method: 'PUT',
      headers: { ...bearer(personToken), 'content-type': 'image/jpeg' },
      body: new Uint8Array(await solid(GREEN)),
    });
    assert.equal(upload.status, 200);
    const cookie = await signIn(a, person.userPrincipalName);
    await sitesPhoto(a, 'L', cookie); // the person's own view syncs, in process A
    const swapped = performance.now();
    let seenAfter = Infinity;
    while (performance.now() - swapped < 2000) {
      if ((await colourOf(Buffer.from(await (await sitesPhoto(b, 'S')).arrayBuffer()))) === 'green') {
        seenAfter = performance.now() - swapped;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(seenAfter < 300, `B served the new photo ${seenAfter.toFixed(0)} ms after A's swap (its cache lives 1 s)`);
  });

  test('two admins on two processes replacing the same photo at once end with one consistent version', async () => {
    for (let round = 0; round < 4; round++) {
      const photos = [await solid(RED, 350 + round), await solid(GREEN, 350 + round)];
      const responses = await Promise.all(
        servers.map((server, i) =>
          fetch(`${server.url}/v1.0/users/${person.userPrincipalName}/photo/$value`, {
            method: 'PUT',
            headers: { ...bearer(adminTokens[i]!), 'content-type': 'image/jpeg' },
            body: new Uint8Array(photos[i]!),
          }),
        ),
      );
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 200],
      );
      const metadata = await Promise.all(
        servers.map(
          async (s) =>
            (await (await fetch(`${s.url}/v1.0/users/${person.userPrincipalName}/photo`, { headers: bearer(adminTokens[0]!) })).json()) as {
              '@odata.mediaEtag': string;
            },
        ),
      );
      const etags = new Set(metadata.map((m) => m['@odata.mediaEtag']));
      assert.equal(etags.size, 1, 'both processes answer with the same version');
      assert.ok(photos.map((p) => `"${photoContentEtag(p)}"`).includes([...etags][0]!));
    }
  });
});
