import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildHttpApp, createServices, type Services } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Person } from '../../src/directory/index.ts';
import { AppError } from '../../src/errors.ts';
import { httpStatusOf } from '../../src/http/index.ts';
import { CLI_ACTOR, SIGN_IN_DISABLED, SIGN_IN_FAILED, type Actor } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { bearer, cookiesOf, startTestApp, TEST_PASSWORD, type TestApp } from '../support/test-app.ts';

/*
 * The people lifecycle (issue 13): add, disable, enable, remove, passwords set and reset by admins.
 * Each rule is its own test, on SQLite and PostgreSQL, through the services and through HTTP.
 */

const sessionActor = (person: Person): Actor => ({ kind: 'person', person, via: 'session', sessionKey: 'test' });

/** Rejects with an AppError of this status whose message matches. */
async function refused(work: Promise<unknown>, status: number, message: RegExp): Promise<void> {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof AppError, `an AppError, not ${String(error)}`);
    assert.equal(httpStatusOf(error), status, error.message);
    assert.match(error.message, message);
    return true;
  });
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`the people lifecycle on ${kind}`, { skip }, () => {
    let t: TestApp;
    let boss: Person;
    let counter = 0;
    const newPerson = (role: 'admin' | 'user' = 'user') => t.addPerson(`life${++counter}@contoso.example`, { role });
    const fresh = async (person: Person) => (await t.services.directory.findPersonFresh(person.id))!;
    const signInResponse = async (upn: string, password: string) => {
      const form = await t.app.inject({ method: 'GET', url: '/signin' });
      const token = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
      return t.app.inject({
        method: 'POST',
        url: '/signin',
        headers: { cookie: cookiesOf(form), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: token, username: upn, password }).toString(),
      });
    };
    const homeFor = (cookie: string) => t.app.inject({ method: 'GET', url: '/', headers: { cookie } });
    const sitesPhoto = (cookie: string, person: Person) =>
      t.app.inject({
        method: 'GET',
        url: `/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(person.userPrincipalName)}`,
        headers: { cookie },
      });
    const auditOf = (person: Person) => t.services.audit.list(CLI_ACTOR, { person: person.userPrincipalName, limit: 50 });
    let base: string | undefined;
    const listening = async () => (base ??= await t.app.listen({ port: 0, host: '127.0.0.1' }));

    before(async () => {
      t = await startTestApp(kind);
      boss = await t.addPerson('boss@contoso.example', { role: 'admin' });
    });
    after(() => t.close());

    test('only an admin or the operator can manage people', async () => {
      const ada = await newPerson();
      const grace = await newPerson();
      const people = t.services.people;
      const asAda = sessionActor(ada);
      // An admin's token without the admin scope acts on photos only.
      const bossPhotosToken: Actor = { kind: 'person', person: boss, via: 'token', scope: 'photos' };
      for (const actor of [asAda, bossPhotosToken]) {
        await refused(people.add(actor, { userPrincipalName: `x${++counter}@contoso.example` }), 403, /Only an admin/);
        await refused(people.disable(actor, grace), 403, /Only an admin/);
        await refused(people.enable(actor, grace), 403, /Only an admin/);
        await refused(people.remove(actor, grace), 403, /Only an admin/);
        await refused(people.setPassword(actor, grace, 'a long enough new password'), 403, /Only an admin/);
        await refused(people.resetPassword(actor, grace), 403, /Only an admin/);
        await refused(people.setRole(actor, grace, 'admin'), 403, /Only an admin/);
        // Reads too: the person as an admin sees them, and the list, whatever page or command asks.
        await refused(people.getPerson(actor, grace.userPrincipalName), 403, /Only an admin/);
        await refused(people.search(actor, { limit: 10 }), 403, /Only an admin/);
      }
      assert.equal((await people.getPerson(sessionActor(boss), grace.userPrincipalName)).id, grace.id);
      assert.equal((await people.getPerson(CLI_ACTOR, grace.id)).id, grace.id);
      assert.equal((await fresh(grace)).enabled, true, 'nothing changed');
      await people.disable(CLI_ACTOR, grace);
      await people.enable(sessionActor(boss), grace);
      assert.equal((await fresh(grace)).enabled, true);
    });

    test('an admin cannot disable or remove themself', async () => {
      const deputy = await newPerson('admin');
      await refused(t.services.people.disable(sessionActor(deputy), deputy), 403, /cannot disable yourself/);
      await refused(t.services.people.remove(sessionActor(deputy), deputy), 403, /cannot remove yourself/);
      assert.equal((await fresh(deputy)).enabled, true);
      await t.services.people.remove(sessionActor(boss), deputy);
    });

    test('the last enabled admin cannot be disabled, removed or demoted', async () => {
      assert.equal(await t.services.directory.countEnabledAdmins(), 1, 'boss is the only admin here');
      await refused(t.services.people.disable(CLI_ACTOR, boss), 409, /last enabled admin/);
      await refused(t.services.people.remove(CLI_ACTOR, boss), 409, /last enabled admin/);
      await refused(t.services.people.setRole(CLI_ACTOR, boss, 'user'), 409, /last enabled admin/);
      const csv = await t.services.directory.importPeopleFromCsv(
        'userPrincipalName,displayName,mail,role\nboss@contoso.example,Boss,,user\n',
        { dryRun: false },
      );
      assert.equal(csv.counts.failed, 1, 'a CSV import cannot demote the last admin either');
      assert.deepEqual([(await fresh(boss)).enabled, (await fresh(boss)).role], [true, 'admin']);

      // With a second enabled admin, either may go; then the other is the last again.
      const deputy = await newPerson('admin');
      await t.services.people.disable(CLI_ACTOR, boss);
      await refused(t.services.people.disable(CLI_ACTOR, deputy), 409, /last enabled admin/);
      await t.services.people.enable(CLI_ACTOR, boss);
      await t.services.people.setRole(sessionActor(boss), deputy, 'user');
      assert.equal((await fresh(deputy)).role, 'user');
    });

    test('two admins disabling each other at the same moment leave one enabled admin', async () => {
      const deputy = await newPerson('admin');
      const outcomes = await Promise.allSettled([
        t.services.people.disable(sessionActor(deputy), boss),
        t.services.people.disable(sessionActor(boss), deputy),
      ]);
      assert.deepEqual(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected']);
      assert.match(String((outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason), /last enabled admin/);
      assert.equal(await t.services.directory.countEnabledAdmins(), 1);
      // Back to boss as the only admin.
      if (!(await fresh(boss)).enabled) await t.services.people.enable(CLI_ACTOR, boss);
      await t.services.people.remove(sessionActor(boss), deputy);
    });

    test('a disabled person cannot sign in, and only the right password learns why', async () => {
      const ada = await newPerson();
      await t.services.people.disable(CLI_ACTOR, ada);
      const wrong = await signInResponse(ada.userPrincipalName, 'not the password at all');
      assert.equal(wrong.statusCode, 401);
      assert.ok(wrong.body.includes(SIGN_IN_FAILED.replace(/'/g, '&#39;')), 'a wrong password says only that');
      const right = await signInResponse(ada.userPrincipalName, TEST_PASSWORD);
      assert.equal(right.statusCode, 401);
      assert.ok(right.body.includes(SIGN_IN_DISABLED), 'the right password is told the account is disabled');
      assert.equal(cookiesOf(right).includes('photosync_session='), false, 'no session is issued');
    });

    test("a disabled person's session and token stop working at once", async () => {
      const ada = await newPerson();
      const cookie = await t.signIn(ada.userPrincipalName);
      const token = await t.tokenFor(ada);
      // Both used first, so the token sits in the cache.
      assert.equal((await homeFor(cookie)).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(token) })).statusCode, 404);
      await t.services.people.disable(CLI_ACTOR, ada, { reason: 'left the company' });
      const home = await homeFor(cookie);
      assert.equal(home.statusCode, 303);
      assert.match(home.headers.location as string, /^\/signin/);
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(token) })).statusCode, 401);
      const rows = await t.services.database.db.selectFrom('sessions').select('id_hash').where('person_id', '=', ada.id).execute();
      assert.equal(rows.length, 0, 'the sessions are deleted');
      const tokens = await t.services.identity.listApiTokens(CLI_ACTOR);
      assert.ok(
        tokens.filter((x) => x.personId === ada.id).every((x) => x.revokedAt !== null),
        'the tokens are revoked',
      );

      // Enabling restores sign-in, not the old session or token.
      await t.services.people.enable(CLI_ACTOR, ada);
      assert.equal((await homeFor(cookie)).statusCode, 303);
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(token) })).statusCode, 401);
      assert.equal((await homeFor(await t.signIn(ada.userPrincipalName))).statusCode, 200);
    });

    test("a disabled person's photo reads answered from memory stop at once too (real HTTP)", async () => {
      const base = await listening();
      const ada = await newPerson();
      const token = await t.tokenFor(ada);
      const viewer = await t.signIn(boss.userPrincipalName);
      await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 300, 300), 'cli');
      await t.services.sync.syncProfilePhoto(ada, 'admin');
      const stem = ada.userPrincipalName.replace(/[@.]/g, '_');
      const get = async (url: string, headers: Record<string, string>) => {
        const response = await fetch(`${base}${url}`, { headers, redirect: 'manual' });
        await response.arrayBuffer();
        return { status: response.status, etag: response.headers.get('etag') ?? '' };
      };
      const photo = `/_layouts/15/userphoto.aspx?size=S&accountname=${encodeURIComponent(ada.userPrincipalName)}`;
      const file = `/User%20Photos/Profile%20Pictures/${stem}_MThumb.jpg`;
      // Each read twice: the second comes from memory.
      for (let i = 0; i < 2; i++) {
        assert.equal((await get('/v1.0/me/photo/$value', bearer(token))).status, 200);
        assert.doesNotMatch((await get(photo, { cookie: viewer })).etag, /placeholder/);
        assert.doesNotMatch((await get(file, { cookie: viewer })).etag, /placeholder/);
      }
      await t.services.people.disable(CLI_ACTOR, ada);
      for (let i = 0; i < 2; i++) {
        assert.equal((await get('/v1.0/me/photo/$value', bearer(token))).status, 401);
        assert.match((await get(photo, { cookie: viewer })).etag, /^"placeholder-/);
        assert.match((await get(file, { cookie: viewer })).etag, /^"placeholder-/);
      }
    });

    test('Sites shows the placeholder for a disabled person', async () => {
      const ada = await newPerson();
      const viewer = await t.signIn(boss.userPrincipalName);
      await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 300, 300), 'cli');
      await t.services.sync.syncProfilePhoto(ada, 'admin');
      const synced = await sitesPhoto(viewer, ada);
      assert.equal(synced.statusCode, 200);
      assert.doesNotMatch(synced.headers.etag as string, /placeholder/, 'the synced photo first');

      const versioned = new RegExp(`accountname=${encodeURIComponent(ada.userPrincipalName)}&amp;t=`);
      const pages = () =>
        Promise.all(
          ['/sites', `/sites/people/${encodeURIComponent(ada.userPrincipalName)}`].map(
            async (url) => (await t.app.inject({ method: 'GET', url, headers: { cookie: viewer } })).body,
          ),
        );
      for (const body of await pages())
        assert.match(body, versioned, 'the pages name the version of the photo (browsers keep such a URL for good)');

      await t.services.people.disable(CLI_ACTOR, ada);
      for (const body of await pages()) assert.doesNotMatch(body, versioned, "no page names the disabled person's photo version any more");
      const shown = await sitesPhoto(viewer, ada);
      assert.match(shown.headers.etag as string, /^"placeholder-/, 'then the placeholder');
      const properties = (await t.services.sites.getProperties(await fresh(ada))).find((p) => p.key === 'PictureURL');
      assert.equal(properties?.value, '', 'no picture URL, as for a person never synced');

      await t.services.people.enable(CLI_ACTOR, ada);
      assert.equal((await sitesPhoto(viewer, ada)).headers.etag, synced.headers.etag, 'enabled again: their Sites copy is back');
    });

    test("a disabled person's Mail photo is kept by default, and removed when the setting says so", async () => {
      const ada = await newPerson();
      const grace = await newPerson();
      for (const person of [ada, grace]) await t.services.mail.setPhoto(CLI_ACTOR, person, await makePhoto('jpeg', 200, 200), 'cli');
      assert.equal(await t.services.people.disabledMailPhoto(CLI_ACTOR), 'keep');
      await t.services.people.disable(CLI_ACTOR, ada);
      assert.notEqual(await t.services.mail.currentEtag(ada), null, 'kept');

      await refused(t.services.people.setDisabledMailPhoto(CLI_ACTOR, 'shred'), 400, /keep or remove/);
      await t.services.people.setDisabledMailPhoto(CLI_ACTOR, 'remove');
      await t.services.people.disable(CLI_ACTOR, grace);
      assert.equal(await t.services.mail.currentEtag(grace), null, 'removed');
      const actions = (await auditOf(grace)).map((e) => e.action);
      assert.ok(actions.includes('photo.remove') && actions.includes('person.disable'));

      await t.services.people.enable(CLI_ACTOR, grace);
      assert.equal(await t.services.mail.currentEtag(grace), null, 'enabling does not bring the removed photo back');
      await t.services.people.setDisabledMailPhoto(CLI_ACTOR, 'keep');
    });

    test("a disabled person's Mail photo that an authoritative directory manages is kept, and the disable says why", async () => {
      const ada = await newPerson();
      await t.services.directoryPhotos.setPolicy(CLI_ACTOR, 'ldap', 'authoritative');
      try {
        assert.equal((await t.services.directoryPhotos.receive(ada, await makePhoto('jpeg', 200, 200), 'ldap')).outcome, 'imported');
        await t.services.people.setDisabledMailPhoto(CLI_ACTOR, 'remove');
        await t.services.people.disable(CLI_ACTOR, ada);
        assert.equal((await fresh(ada)).enabled, false, 'disabled all the same');
        assert.notEqual(await t.services.mail.currentEtag(ada), null, "the directory's photo stays");
        const disable = (await auditOf(ada)).find((e) => e.action === 'person.disable');
        assert.match(String(disable?.detail), /directory manages it/);
      } finally {
        await t.services.people.setDisabledMailPhoto(CLI_ACTOR, 'keep');
        await t.services.directoryPhotos.setPolicy(CLI_ACTOR, 'ldap', 'fill-when-empty');
      }
    });

    test("remove deletes the person's photos, Sites copies, sync history, sessions and tokens, and keeps the audit trail", async () => {
      const ada = await newPerson();
      const db = t.services.database.db;
      await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 300, 300), 'cli');
      await t.services.sync.syncProfilePhoto(ada, 'admin');
      const cookie = await t.signIn(ada.userPrincipalName);
      const token = await t.tokenFor(ada);
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(token) })).statusCode, 200);
      const counts = async () => {
        const versions = await db.selectFrom('photo_versions').select('id').where('person_id', '=', ada.id).execute();
        return {
          photo_versions: versions.length,
          photo_renditions: versions.length
            ? (
                await db
                  .selectFrom('photo_renditions')
                  .select('version_id')
                  .where(
                    'version_id',
                    'in',
                    versions.map((v) => v.id),
                  )
                  .execute()
              ).length
            : 0,
          site_profiles: (await db.selectFrom('site_profiles').select('person_id').where('person_id', '=', ada.id).execute()).length,
          site_thumbnails: (await db.selectFrom('site_thumbnails').select('person_id').where('person_id', '=', ada.id).execute()).length,
          sync_runs: (await db.selectFrom('sync_runs').select('id').where('person_id', '=', ada.id).execute()).length,
          sessions: (await db.selectFrom('sessions').select('id_hash').where('person_id', '=', ada.id).execute()).length,
          api_tokens: (await db.selectFrom('api_tokens').select('id').where('person_id', '=', ada.id).execute()).length,
        };
      };
      const before = await counts();
      assert.ok(
        Object.values(before).every((n) => n > 0),
        `everything exists first: ${JSON.stringify(before)}`,
      );
      const auditBefore = (await auditOf(ada)).length;

      await t.services.people.remove(sessionActor(boss), ada);
      assert.deepEqual(await counts(), {
        photo_versions: 0,
        photo_renditions: 0,
        site_profiles: 0,
        site_thumbnails: 0,
        sync_runs: 0,
        sessions: 0,
        api_tokens: 0,
      });
      assert.equal(await t.services.directory.findPerson(ada.userPrincipalName), undefined);
      assert.equal((await homeFor(cookie)).statusCode, 303);
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(token) })).statusCode, 401);
      const viewer = await t.signIn(boss.userPrincipalName);
      assert.equal((await sitesPhoto(viewer, ada)).statusCode, 404, 'Sites serves nothing of theirs from memory');

      const trail = await auditOf(ada);
      assert.equal(trail.length, auditBefore + 1, 'every earlier entry is kept, and the removal added');
      assert.deepEqual(
        [trail[0]!.action, trail[0]!.actor.name, trail[0]!.target],
        ['person.remove', boss.userPrincipalName, { id: ada.id, name: ada.userPrincipalName }],
      );
      assert.ok(
        trail.some((e) => e.action === 'photo.set' && e.target?.id === ada.id),
        'the photo history is still there',
      );
      await refused(t.services.people.remove(CLI_ACTOR, ada), 404, /does not exist/);
    });

    test('a reset password is a one-time password the person must change at the next sign-in', async () => {
      const ada = await newPerson();
      const oldSession = await t.signIn(ada.userPrincipalName);
      const { oneTimePassword } = await t.services.people.resetPassword(sessionActor(boss), ada);
      assert.ok(oneTimePassword.length >= 20);
      assert.equal((await homeFor(oldSession)).statusCode, 303, 'their sessions ended');
      assert.equal((await signInResponse(ada.userPrincipalName, TEST_PASSWORD)).statusCode, 401, 'the old password is gone');
      const signedIn = await signInResponse(ada.userPrincipalName, oneTimePassword);
      assert.equal(signedIn.statusCode, 303);
      assert.equal(signedIn.headers.location, '/account/password');
      const confined = await homeFor(cookiesOf(signedIn));
      assert.equal(confined.headers.location, '/account/password', 'nothing else opens until it is changed');
      await refused(t.services.people.resetPassword(sessionActor(boss), boss), 400, /\/account\/password/);
    });

    test("a password an admin sets is checked for strength and ends the person's sessions", async () => {
      const ada = await newPerson();
      const session = await t.signIn(ada.userPrincipalName);
      await refused(t.services.people.setPassword(CLI_ACTOR, ada, 'short'), 400, /at least 12 characters/);
      assert.equal((await homeFor(session)).statusCode, 200, 'a refused password changes nothing');
      await t.services.people.setPassword(CLI_ACTOR, ada, 'a fresh long passphrase', { mustChange: false });
      assert.equal((await homeFor(session)).statusCode, 303);
      assert.equal((await homeFor(await t.signIn(ada.userPrincipalName, 'a fresh long passphrase'))).statusCode, 200);
    });

    test('every lifecycle action is audited with who, whom and what', async () => {
      const admin = sessionActor(boss);
      const ada = await t.services.people.add(admin, {
        userPrincipalName: `audited${++counter}@contoso.example`,
        displayName: 'Ada Audited',
        role: 'user',
        password: 'a long enough password',
      });
      await t.services.people.update(admin, ada, { displayName: 'Ada Renamed', mail: 'ada.renamed@contoso.example' });
      await t.services.people.setRole(admin, ada, 'admin');
      await t.services.people.disable(admin, ada, { reason: 'on leave' });
      await t.services.people.disable(admin, ada);
      await t.services.people.enable(admin, ada);
      await t.services.people.resetPassword(admin, ada);
      await t.services.people.setRole(admin, ada, 'user');
      const trail = (await auditOf(ada)).reverse();
      assert.deepEqual(
        trail.map((e) => e.action),
        ['person.add', 'person.update', 'person.role', 'person.disable', 'person.enable', 'person.password', 'person.role'],
        'disabling twice is recorded once',
      );
      for (const entry of trail) {
        assert.deepEqual([entry.actor.kind, entry.actor.name, entry.target?.id], ['admin', boss.userPrincipalName, ada.id]);
        assert.ok(entry.detail === null || entry.detail.length > 0);
      }
      assert.match(trail[1]!.detail ?? '', /"Ada Audited" → "Ada Renamed"/);
      assert.match(trail[3]!.detail ?? '', /reason: on leave/);
    });

    describe('the People page', () => {
      let cookie: string;
      const csrfFrom = async (url: string) => {
        const page = await t.app.inject({ method: 'GET', url, headers: { cookie } });
        assert.equal(page.statusCode, 200, page.body);
        return /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
      };
      const post = async (
        url: string,
        fields: Record<string, string>,
        options: { csrf?: boolean } = {},
      ): Promise<LightMyRequestResponse> => {
        const token = options.csrf === false ? undefined : await csrfFrom('/admin/people');
        return t.app.inject({
          method: 'POST',
          url,
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ ...(token && { _csrf: token }), ...fields }).toString(),
        });
      };
      const pageUrl = (person: Person) => `/admin/people/${encodeURIComponent(person.userPrincipalName)}`;

      before(async () => {
        cookie = await t.signIn(boss.userPrincipalName);
      });

      test('the People page finds people by name, user principal name or mail, and shows their state and role', async () => {
        const ada = await t.services.people.add(CLI_ACTOR, {
          userPrincipalName: `findme${++counter}@contoso.example`,
          displayName: 'Zelda Findable',
          mail: 'zelda.mail@contoso.example',
        });
        await t.services.people.disable(CLI_ACTOR, ada);
        for (const q of ['zelda findable', ada.userPrincipalName.toUpperCase(), 'zelda.mail']) {
          const page = await t.app.inject({ method: 'GET', url: `/admin/people?q=${encodeURIComponent(q)}`, headers: { cookie } });
          assert.equal(page.statusCode, 200);
          assert.match(page.body, /Zelda Findable/, `found by ${q}`);
          assert.match(page.body, /<strong>Disabled<\/strong>/);
        }
        const enabledOnly = await t.app.inject({ method: 'GET', url: '/admin/people?q=zelda&state=enabled', headers: { cookie } });
        assert.doesNotMatch(enabledOnly.body, /Zelda Findable/);
        const page = await t.app.inject({ method: 'GET', url: '/admin/people', headers: { cookie } });
        assert.match(
          page.body,
          /<option value="user" selected>User<\/option>/,
          'a new person is a user unless the admin chooses otherwise',
        );
        const bad = await t.app.inject({ method: 'GET', url: '/admin/people?state=sleeping', headers: { cookie } });
        assert.equal(bad.statusCode, 400);
        assert.match(bad.body, /state filter must be one of enabled, disabled/);
        for (const url of ['/admin/people?q=%00zelda', '/admin/people?after=%00', '/admin/sync?q=%00zelda']) {
          const nul = await t.app.inject({ method: 'GET', url, headers: { cookie } });
          assert.equal(nul.statusCode, 400, `${url}: ${nul.statusCode}`);
          assert.match(nul.body, /must be plain text/);
        }
      });

      test('the People page pages through everyone by user principal name', async () => {
        for (let i = 0; i < 52; i++)
          await t.services.directory.addPerson({ userPrincipalName: `pager${String(i).padStart(2, '0')}@contoso.example` });
        const first = await t.app.inject({ method: 'GET', url: '/admin/people?q=pager', headers: { cookie } });
        assert.equal((first.body.match(/<span class="hint">pager\d\d@contoso/g) ?? []).length, 50, 'fifty a page');
        const next = /href="(\/admin\/people\?[^"]*after=[^"]+)" rel="next"/.exec(first.body)![1]!.replaceAll('&amp;', '&');
        const second = await t.app.inject({ method: 'GET', url: next, headers: { cookie } });
        assert.match(second.body, /pager50@contoso/);
        assert.match(second.body, /pager51@contoso/);
        assert.doesNotMatch(second.body, /pager49@contoso/);
      });

      test('adding a person on the page shows a one-time password once', async () => {
        const upn = `added${++counter}@contoso.example`;
        const added = await post('/admin/people', {
          userPrincipalName: upn,
          displayName: 'Added Person',
          mail: '',
          role: 'user',
          passwordChoice: 'one-time',
        });
        assert.equal(added.statusCode, 200, added.body);
        assert.equal(added.headers['cache-control'], 'no-store');
        const oneTimePassword = /<code class="secret">([^<]+)<\/code>/.exec(added.body)![1]!;
        const signedIn = await signInResponse(upn, oneTimePassword);
        assert.equal(signedIn.headers.location, '/account/password', 'they must choose their own at first sign-in');
        const again = await t.app.inject({ method: 'GET', url: `/admin/people/${encodeURIComponent(upn)}`, headers: { cookie } });
        assert.equal(again.body.includes(oneTimePassword), false, 'shown only once');

        const withPassword = await post('/admin/people', {
          userPrincipalName: `typed${++counter}@contoso.example`,
          role: 'admin',
          passwordChoice: 'password',
          password: 'a typed long password',
        });
        assert.equal(withPassword.statusCode, 303);
        assert.match(withPassword.headers.location as string, /\?done=added$/);
      });

      test('bad input on the People page is a 4xx with a message, and changes nothing', async () => {
        const cases: [Record<string, string>, number, RegExp][] = [
          [{ userPrincipalName: 'not an upn', passwordChoice: 'one-time' }, 400, /is not a valid user principal name/],
          [
            { userPrincipalName: `ok${++counter}@contoso.example`, mail: 'nope', passwordChoice: 'one-time' },
            400,
            /is not a valid mail address/,
          ],
          [
            { userPrincipalName: `ok${++counter}@contoso.example`, passwordChoice: 'password', password: 'short' },
            400,
            /at least 12 characters/,
          ],
          [{ userPrincipalName: `ok${++counter}@contoso.example`, passwordChoice: 'password' }, 400, /Type the password/],
          [{ userPrincipalName: `ok${++counter}@contoso.example`, role: 'owner', passwordChoice: 'one-time' }, 400, /Choose a role/],
          [{ userPrincipalName: boss.userPrincipalName.toUpperCase(), passwordChoice: 'one-time' }, 409, /already exists/],
        ];
        for (const [fields, status, message] of cases) {
          const before = (await t.services.directory.listPeople({ limit: 100_000 })).length;
          const response = await post('/admin/people', fields);
          assert.equal(response.statusCode, status, `${JSON.stringify(fields)}: ${response.body.slice(0, 200)}`);
          assert.match(response.body, message);
          assert.match(response.body, /role="alert"/, 'shown on the page');
          assert.equal((await t.services.directory.listPeople({ limit: 100_000 })).length, before, 'nobody added');
        }
        const setting = await post('/admin/people/settings', { disabledMailPhoto: 'shred' });
        assert.equal(setting.statusCode, 400);
        assert.match(setting.body, /keep or remove/);
        const self = await post(`${pageUrl(boss)}/disable`, {});
        assert.equal(self.statusCode, 403);
        assert.match(self.body, /cannot disable yourself/);
        assert.equal((await fresh(boss)).enabled, true);
      });

      test('every People form refuses a request without its CSRF token', async () => {
        const ada = await newPerson();
        for (const url of [
          '/admin/people',
          '/admin/people/settings',
          `${pageUrl(ada)}/disable`,
          `${pageUrl(ada)}/enable`,
          `${pageUrl(ada)}/password`,
          `${pageUrl(ada)}/role`,
          `${pageUrl(ada)}/remove`,
        ]) {
          const response = await post(
            url,
            { userPrincipalName: `csrf${++counter}@contoso.example`, disabledMailPhoto: 'remove', role: 'admin' },
            { csrf: false },
          );
          assert.equal(response.statusCode, 403, url);
          assert.match(response.body, /This form has expired or was not sent from this site/);
        }
        const now = await fresh(ada);
        assert.deepEqual([now.enabled, now.role], [true, 'user'], 'nothing changed');
        assert.equal(await t.services.people.disabledMailPhoto(CLI_ACTOR), 'keep');
      });

      test('disable, enable, reset and remove on the page, removal only after its confirmation page', async () => {
        const ada = await newPerson();
        const disabled = await post(`${pageUrl(ada)}/disable`, { reason: 'test' });
        assert.equal(disabled.headers.location, `${pageUrl(ada)}?done=disabled`);
        assert.equal((await fresh(ada)).enabled, false);
        await post(`${pageUrl(ada)}/enable`, {});
        assert.equal((await fresh(ada)).enabled, true);
        const reset = await post(`${pageUrl(ada)}/password`, {});
        assert.equal(reset.statusCode, 200);
        assert.match(reset.body, /shown only this once/);
        const confirm = await t.app.inject({ method: 'GET', url: `${pageUrl(ada)}/remove`, headers: { cookie } });
        assert.equal(confirm.statusCode, 200);
        assert.match(confirm.body, /cannot be undone/);
        assert.ok(await fresh(ada), 'the confirmation page removes nothing');
        const removed = await post(`${pageUrl(ada)}/remove`, {});
        assert.equal(removed.headers.location, '/admin/people?done=removed');
        assert.equal(await t.services.directory.findPersonFresh(ada.id), undefined);
        const gone = await t.app.inject({ method: 'GET', url: pageUrl(ada), headers: { cookie } });
        assert.equal(gone.statusCode, 404);
      });
    });
  });

  // Several server processes share one database only on PostgreSQL; on SQLite there is one.
  describe(
    `the people lifecycle across server processes on ${kind}`,
    { skip: kind === 'sqlite' ? 'SQLite has one server process' : skip },
    () => {
      let t: TestApp;
      let other: Services;
      let otherApp: FastifyInstance;
      let otherBase: string | undefined;
      let boss: Person;

      before(async () => {
        t = await startTestApp(kind);
        // A second "server process" on the same database, with its own caches and its own HTTP app.
        other = await createServices(loadConfig(t.env));
        otherApp = await buildHttpApp(other);
        await otherApp.ready();
        boss = await t.addPerson('boss@contoso.example', { role: 'admin' });
      });
      after(async () => {
        await otherApp.close();
        await other.close();
        await t.close();
      });

      /** Resolves when the other process hears the notice: no sleeping, no polling. */
      const heardThere = (topic: string, key = '*') =>
        new Promise<void>((resolve) => other.database.processes.subscribe(topic, (k) => k === key && resolve()));
      /** Over real HTTP, so the hot photo reads are answered from the other process's memory when warm. */
      const there = async (url: string, headers: Record<string, string>) => {
        otherBase ??= await otherApp.listen({ port: 0, host: '127.0.0.1' });
        const response = await fetch(`${otherBase}${url}`, { headers, redirect: 'manual' });
        await response.arrayBuffer();
        return {
          statusCode: response.status,
          headers: { etag: response.headers.get('etag') ?? '', location: response.headers.get('location') ?? '' },
        };
      };

      test("a disabled person's session and token stop working at once in another process", { timeout: 60_000 }, async () => {
        const ada = await t.addPerson('ada@contoso.example');
        const cookie = await t.signIn(ada.userPrincipalName);
        const token = await t.tokenFor(ada);
        const viewer = await t.signIn(boss.userPrincipalName);
        await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 300, 300), 'cli');
        await t.services.sync.syncProfilePhoto(ada, 'admin');
        const photoUrl = `/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(ada.userPrincipalName)}`;
        // The other process has the session, the token, the person and the Sites copy in its caches
        // (each read twice: the second is answered from memory).
        for (let i = 0; i < 2; i++) {
          assert.equal((await there('/', { cookie })).statusCode, 200);
          assert.equal((await there('/v1.0/me/photo/$value', bearer(token))).statusCode, 200);
          assert.equal((await there('/v1.0/me/photo/$value', { cookie })).statusCode, 200);
          assert.doesNotMatch((await there(photoUrl, { cookie: viewer })).headers.etag, /placeholder/);
        }

        const heard = Promise.all([heardThere('people'), heardThere('credentials')]);
        await t.services.people.disable(CLI_ACTOR, ada);
        await heard;
        assert.equal((await there('/', { cookie })).statusCode, 303, 'the session is refused there');
        assert.equal((await there('/v1.0/me/photo/$value', bearer(token))).statusCode, 401, 'the cached token is refused there');
        assert.equal((await there('/v1.0/me/photo/$value', { cookie })).statusCode, 401, 'the cached session is refused there');
        for (let i = 0; i < 2; i++)
          assert.match((await there(photoUrl, { cookie: viewer })).headers.etag, /^"placeholder-/, 'Sites there shows the placeholder');
        await assert.rejects(
          other.identity.signIn(ada.userPrincipalName, TEST_PASSWORD),
          (error: Error) => error.message === SIGN_IN_DISABLED,
        );
      });

      test('a removed person is forgotten at once in another process', { timeout: 60_000 }, async () => {
        const grace = await t.addPerson('grace@contoso.example');
        const token = await t.tokenFor(grace);
        const viewer = await t.signIn(boss.userPrincipalName);
        await t.services.mail.setPhoto(CLI_ACTOR, grace, await makePhoto('jpeg', 300, 300), 'cli');
        const photoUrl = `/v1.0/users/${encodeURIComponent(grace.userPrincipalName)}/photo`;
        for (let i = 0; i < 2; i++) {
          assert.equal((await there(`${photoUrl}/$value`, { cookie: viewer })).statusCode, 200);
          assert.equal((await there('/v1.0/me/photo/$value', bearer(token))).statusCode, 200);
        }

        const heard = Promise.all([
          heardThere('people'),
          heardThere('credentials'),
          heardThere('mail', grace.id),
          heardThere('sites', grace.id),
        ]);
        await t.services.people.remove(CLI_ACTOR, grace);
        await heard;
        assert.equal((await there(`${photoUrl}/$value`, { cookie: viewer })).statusCode, 404, 'nobody by that name there');
        assert.equal((await there('/v1.0/me/photo/$value', bearer(token))).statusCode, 401);
      });
    },
  );
}
