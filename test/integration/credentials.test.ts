import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR, ensureFirstAdmin } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { runPhotosync } from '../support/run-cli.ts';
import { bearer, startTestApp, TEST_PASSWORD, type TestApp } from '../support/test-app.ts';

/*
 * The rules of sign-in credentials beyond the access-rule table: what a one-time password opens,
 * how sessions end, how password changes are limited, API token scopes and expiry, CSRF tokens bound
 * to their session, and who may scrape /metrics.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NEW_PASSWORD = 'a brand new passphrase 42';
const csrfIn = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';

/** One browser: keeps the cookies the server sets, sends them back, and fills forms with their CSRF token. */
class Browser {
  readonly cookies = new Map<string, string>();
  constructor(private readonly app: FastifyInstance) {}

  get session(): string | undefined {
    return this.cookies.get('photosync_session');
  }

  async request(
    method: string,
    url: string,
    options: { headers?: Record<string, string>; payload?: string | Buffer } = {},
  ): Promise<LightMyRequestResponse> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await this.app.inject({
      method: method as 'GET',
      url,
      headers: { ...options.headers, ...(cookie && { cookie }) },
      ...(options.payload !== undefined && { payload: options.payload }),
    });
    for (const line of ([] as string[]).concat(response.headers['set-cookie'] ?? [])) {
      const [pair] = line.split(';');
      const name = pair!.slice(0, pair!.indexOf('='));
      const value = pair!.slice(pair!.indexOf('=') + 1);
      if (!value || /max-age=0\b|expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  get(url: string, headers?: Record<string, string>) {
    return this.request('GET', url, { ...(headers && { headers }) });
  }

  /** Posts a form with the CSRF token the page at `pageUrl` carries (or the one given). */
  async submit(pageUrl: string, action: string, fields: Record<string, string>, csrf?: string): Promise<LightMyRequestResponse> {
    const token = csrf ?? csrfIn((await this.get(pageUrl)).body);
    return this.request('POST', action, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: token, ...fields }).toString(),
    });
  }

  async signIn(upn: string, password = TEST_PASSWORD): Promise<LightMyRequestResponse> {
    const response = await this.submit('/signin', '/signin', { username: upn, password });
    assert.equal(response.statusCode, 303, `sign-in of ${upn}`);
    return response;
  }
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`credentials on ${kind}`, { skip }, () => {
    let clock = new Date();
    let t: TestApp;
    let ada: Person;
    let grace: Person;
    let root: Person;
    let oneTimeAdmin: { person: Person; password: string };
    let photo: Buffer;
    let otherPhoto: Buffer;

    before(async () => {
      t = await startTestApp(kind, { SESSION_TTL_HOURS: '12', SESSION_LIFETIME_HOURS: '48' }, { now: () => clock });
      const first = await ensureFirstAdmin(t.services.directory, t.services.identity, { userPrincipalName: 'first.admin@contoso.example' });
      assert.ok(first.created && first.oneTimePassword);
      oneTimeAdmin = { person: first.person, password: first.oneTimePassword };
      ada = await t.addPerson('ada@contoso.example');
      grace = await t.addPerson('grace@contoso.example');
      root = await t.addPerson('root@contoso.example', { role: 'admin' });
      photo = await makePhoto('jpeg', 120, 120, { color: '#3366cc' });
      otherPhoto = await makePhoto('jpeg', 96, 96, { color: '#22aa55' });
      await t.services.mail.setPhoto(CLI_ACTOR, ada, photo, 'cli');
    });
    after(() => t?.close());

    const etagOf = (person: Person) => t.services.mail.currentEtag(person);

    // Item 2 of issue 10.
    test('a one-time password opens only the password page and sign-out: every API and page refuses until it is changed', async () => {
      const browser = new Browser(t.app);
      await browser.signIn(oneTimeAdmin.person.userPrincipalName, oneTimeAdmin.password);
      const adaEtag = await etagOf(ada);
      const adaUpn = encodeURIComponent(ada.userPrincipalName);

      const put = await browser.request('PUT', `/v1.0/users/${adaUpn}/photo/$value`, {
        headers: { 'content-type': 'image/jpeg' },
        payload: otherPhoto,
      });
      assert.equal(put.statusCode, 403, "replacing another person's photo is refused");
      assert.match(put.json().error.message, /one-time password/);
      const removed = await browser.request('DELETE', `/v1.0/users/${adaUpn}/photo`);
      assert.equal(removed.statusCode, 403, "removing another person's photo is refused");
      assert.equal(await etagOf(ada), adaEtag, "Ada's photo is untouched");

      const setMine = await browser.request('POST', '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture', {
        headers: { 'content-type': 'application/json;charset=utf-8', 'x-requestdigest': 'digest' },
        payload: otherPhoto,
      });
      assert.equal(setMine.statusCode, 403, 'SetMyProfilePicture is refused');
      assert.equal(await etagOf(oneTimeAdmin.person), null, 'and stored nothing');
      for (const url of [
        `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v=${encodeURIComponent(`'i:0#.f|membership|${ada.userPrincipalName}'`)}`,
        '/_api/SP.UserProfiles.PeopleManager/GetMyProperties',
        `/_layouts/15/userphoto.aspx?size=L&accountname=${adaUpn}`,
        '/v1.0/me/photo',
        `/v1.0/users/${adaUpn}/photo/$value`,
      ]) {
        const read = await browser.get(url, { accept: 'application/json' });
        assert.equal(read.statusCode, 403, `GET ${url} is refused`);
      }
      for (const url of ['/', '/admin/sync', '/admin/audit', '/sites', `/sites/people/${adaUpn}`]) {
        const page = await browser.get(url);
        assert.equal(page.headers.location, '/account/password', `${url} sends to the password page`);
      }
      assert.equal((await browser.get('/account/password')).statusCode, 200, 'the password page opens');

      const changed = await browser.submit('/account/password', '/account/password', {
        current: oneTimeAdmin.password,
        new: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      assert.equal(changed.headers.location, '/?done=password');
      const afterChange = await browser.request('PUT', `/v1.0/users/${adaUpn}/photo/$value`, {
        headers: { 'content-type': 'image/jpeg' },
        payload: otherPhoto,
      });
      assert.equal(afterChange.statusCode, 200, 'once the password is changed, the admin is an admin');
      assert.equal((await browser.get('/admin/sync')).statusCode, 200);
      await t.services.mail.setPhoto(CLI_ACTOR, ada, photo, 'cli');
    });

    test('signing out works with a one-time password', async () => {
      const otp = await t.services.identity.hashPassword('another one-time password');
      await t.services.directory.setPasswordHash(grace.id, otp, true);
      try {
        const browser = new Browser(t.app);
        await browser.signIn(grace.userPrincipalName, 'another one-time password');
        const page = await browser.get('/account/password');
        const out = await browser.submit('/account/password', '/signout', {}, csrfIn(page.body));
        assert.equal(out.headers.location, '/signin');
        assert.equal(browser.session, undefined, 'the session cookie is cleared');
      } finally {
        await t.services.identity.setPassword(grace.id, TEST_PASSWORD);
      }
    });

    // Item 6 of issue 10.
    test("an admin's token has the photos scope unless asked: it writes photos but opens no admin page and cannot change the sync mode", async () => {
      const photosToken = await t.tokenFor(root);
      const adminToken = (await t.services.identity.createApiToken(CLI_ACTOR, root, 'admin work', { scope: 'admin' })).token;
      const csrfForm = new Browser(t.app);
      const token = csrfIn((await csrfForm.get('/signin')).body);
      const settingsForm = (interval: string, credential: string) =>
        csrfForm.request('POST', '/admin/sync/settings', {
          headers: { ...bearer(credential), 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ _csrf: token, mode: 'scheduled', intervalMinutes: interval }).toString(),
        });

      for (const url of [
        '/admin/sync',
        '/admin/audit',
        '/admin/import',
        `/admin/sync/people/${encodeURIComponent(ada.userPrincipalName)}`,
      ]) {
        assert.equal(
          (await t.app.inject({ method: 'GET', url, headers: bearer(photosToken) })).statusCode,
          403,
          `${url} refuses a photos token`,
        );
        assert.equal(
          (await t.app.inject({ method: 'GET', url, headers: bearer(adminToken) })).statusCode,
          200,
          `${url} opens for an admin-scoped token`,
        );
      }
      const before = await t.services.syncAdmin.getSettings(CLI_ACTOR);
      assert.equal((await settingsForm('17', photosToken)).statusCode, 403);
      assert.deepEqual(await t.services.syncAdmin.getSettings(CLI_ACTOR), before, 'the sync mode is unchanged');
      assert.equal((await settingsForm('17', adminToken)).statusCode, 303);
      assert.equal((await t.services.syncAdmin.getSettings(CLI_ACTOR)).mode, 'scheduled', 'the admin-scoped token changed it');
      await t.services.syncAdmin.changeSettings(CLI_ACTOR, before);

      // Photos as that person: an admin (Set-UserPhoto) writes anyone's, as with a browser session.
      const put = await t.app.inject({
        method: 'PUT',
        url: `/v1.0/users/${encodeURIComponent(ada.userPrincipalName)}/photo/$value`,
        headers: { ...bearer(photosToken), 'content-type': 'image/jpeg' },
        payload: otherPhoto,
      });
      assert.equal(put.statusCode, 200);
      await t.services.mail.setPhoto(CLI_ACTOR, ada, photo, 'cli');
    });

    test("only an admin's token can have the admin scope", async () => {
      await assert.rejects(t.services.identity.createApiToken(CLI_ACTOR, ada, 'escalate', { scope: 'admin' }), /admin/);
      const adaToken = (await t.services.identity.createApiToken(CLI_ACTOR, ada, 'ordinary')).token;
      assert.equal((await t.app.inject({ method: 'GET', url: '/admin/sync', headers: bearer(adaToken) })).statusCode, 403);
    });

    test('a token expires after 90 days unless asked otherwise, and an expired token is refused at once', async () => {
      const { token } = await t.services.identity.createApiToken(CLI_ACTOR, ada, 'default expiry');
      const { token: shortLived } = await t.services.identity.createApiToken(CLI_ACTOR, ada, 'an hour', { expiresInMs: HOUR });
      const { token: forever } = await t.services.identity.createApiToken(CLI_ACTOR, ada, 'never', { expiresInMs: null });
      const read = (credential: string) => t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(credential) });
      const start = clock;
      try {
        for (const credential of [token, shortLived, forever]) assert.equal((await read(credential)).statusCode, 200);
        clock = new Date(start.getTime() + HOUR + 1000);
        const expired = await read(shortLived);
        assert.equal(expired.statusCode, 401, 'expired a second ago, though it was used (and cached) a moment before');
        assert.match(expired.json().error.message, /expired/);
        clock = new Date(start.getTime() + 89 * DAY);
        assert.equal((await read(token)).statusCode, 200, 'the default token still works on day 89');
        clock = new Date(start.getTime() + 90 * DAY + 1000);
        assert.equal((await read(token)).statusCode, 401, 'and not after day 90');
        clock = new Date(start.getTime() + 3650 * DAY);
        assert.equal((await read(forever)).statusCode, 200, 'a token made without expiry keeps working');
        const listed = await t.services.identity.listApiTokens(CLI_ACTOR);
        assert.equal(listed.find((x) => x.name === 'default expiry')?.expiresAt, new Date(start.getTime() + 90 * DAY).toISOString());
      } finally {
        clock = start;
      }
    });

    test('tokens create takes --scope, --expires-in and --no-expiry; tokens list shows scope and expiry', async () => {
      const cli = (args: string[]) => runPhotosync(args, t.env);
      const created = async (args: string[]) => {
        const run = await cli(['tokens', 'create', ...args]);
        assert.equal(run.code, 0, run.stderr);
        return run.stdout.trim();
      };
      await created(['--user', ada.userPrincipalName, '--name', 'thirty days', '--expires-in', '30d']);
      await created(['--user', ada.userPrincipalName, '--name', 'twelve hours', '--expires-in', '12h']);
      await created(['--user', ada.userPrincipalName, '--name', 'no expiry', '--no-expiry']);
      await created(['--user', root.userPrincipalName, '--name', 'admin scope', '--scope', 'admin']);
      const list = JSON.parse((await cli(['tokens', 'list', '--json'])).stdout) as {
        name: string;
        scope: string;
        createdAt: string;
        expiresAt: string | null;
      }[];
      const find = (name: string) => list.find((x) => x.name === name)!;
      const lifetime = (name: string) => Date.parse(find(name).expiresAt!) - Date.parse(find(name).createdAt);
      assert.equal(lifetime('thirty days'), 30 * DAY);
      assert.equal(lifetime('twelve hours'), 12 * HOUR);
      assert.equal(find('no expiry').expiresAt, null);
      assert.deepEqual([find('thirty days').scope, find('admin scope').scope], ['photos', 'admin']);
      assert.equal(lifetime('admin scope'), 90 * DAY, 'the default is 90 days');

      const text = (await cli(['tokens', 'list'])).stdout.split('\n');
      assert.match(
        text.find((line) => line.includes('thirty days'))!,
        /\tphotos\t.*expires 20\d\d-/,
      );
      assert.match(
        text.find((line) => line.includes('no expiry'))!,
        /never expires/,
      );
      assert.match(
        text.find((line) => line.includes('admin scope'))!,
        /\tadmin\t/,
      );

      for (const args of [
        ['--user', ada.userPrincipalName, '--scope', 'admin'],
        ['--user', ada.userPrincipalName, '--scope', 'everything'],
        ['--user', ada.userPrincipalName, '--expires-in', '30d', '--no-expiry'],
        ['--user', ada.userPrincipalName, '--expires-in', 'soon'],
        ['--user', ada.userPrincipalName, '--expires-in', '0d'],
      ]) {
        const run = await cli(['tokens', 'create', ...args]);
        assert.equal(run.code, 2, `tokens create ${args.join(' ')} is a usage error (${run.stderr.trim()})`);
        assert.equal(run.stdout, '', 'and prints no token');
      }
    });

    // Item 7 of issue 10.
    test('a session ends at its absolute lifetime, however active it is', async () => {
      assert.equal(loadConfig({}).sessionLifetimeHours, 7 * 24, 'the default lifetime is 7 days');
      const start = clock;
      try {
        const browser = new Browser(t.app);
        const signedIn = await browser.signIn(ada.userPrincipalName);
        const cookie = ([] as string[]).concat(signedIn.headers['set-cookie'] ?? []).find((c) => c.startsWith('photosync_session='));
        assert.match(cookie!, /Max-Age=172800/, 'the cookie lives as long as the session may (48 h here)');
        // Active every 11 hours: the 12-hour idle timeout never strikes.
        for (let hours = 11; hours < 48; hours += 11) {
          clock = new Date(start.getTime() + hours * HOUR);
          assert.equal((await browser.get('/')).statusCode, 200, `still signed in after ${hours} h`);
        }
        clock = new Date(start.getTime() + 48 * HOUR + 1000);
        const ended = await browser.get('/');
        assert.equal(ended.statusCode, 303, 'signed out 48 hours after signing in');
        assert.match(String(ended.headers.location), /^\/signin/);
      } finally {
        clock = start;
      }
    });

    test("a password change gives the browser a new session id and can revoke the person's tokens", async () => {
      const keep = (await t.services.identity.createApiToken(CLI_ACTOR, grace, 'kept')).token;
      const browser = new Browser(t.app);
      await browser.signIn(grace.userPrincipalName);
      const otherBrowser = new Browser(t.app);
      await otherBrowser.signIn(grace.userPrincipalName);
      const before = browser.session!;
      const page = await browser.get('/account/password');
      assert.match(page.body, /Also revoke your 1 API token/, 'the page offers to revoke the tokens');

      const changed = await browser.submit('/account/password', '/account/password', {
        current: TEST_PASSWORD,
        new: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      assert.equal(changed.headers.location, '/?done=password');
      assert.ok(browser.session && browser.session !== before, 'a new session id');
      assert.equal((await browser.get('/')).statusCode, 200, 'the new one works');
      const old = await t.app.inject({ method: 'GET', url: '/', headers: { cookie: `photosync_session=${before}` } });
      assert.equal(old.statusCode, 303, 'the old id no longer opens anything');
      assert.equal((await otherBrowser.get('/')).statusCode, 303, 'nor do the other sessions');
      assert.equal(
        (await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(keep) })).statusCode,
        404,
        'tokens stay unless asked',
      );

      const revoke = (await t.services.identity.createApiToken(CLI_ACTOR, grace, 'second')).token;
      const again = await browser.submit('/account/password', '/account/password', {
        current: NEW_PASSWORD,
        new: TEST_PASSWORD,
        confirm: TEST_PASSWORD,
        revokeTokens: 'on',
      });
      assert.equal(again.headers.location, '/?done=password');
      for (const token of [keep, revoke]) {
        assert.equal(
          (await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(token) })).statusCode,
          401,
          'revoked with the change',
        );
      }
      assert.equal((await browser.get('/')).statusCode, 200);
    });

    test('a CSRF token works only with the session it was made for: a token and cookie from another browser are refused', async () => {
      const victim = new Browser(t.app);
      await victim.signIn(ada.userPrincipalName);
      const etag = await etagOf(ada);

      // The attacker's own pair, anonymous or signed in as someone else, planted in the victim's browser.
      const attacker = new Browser(t.app);
      const anonymousToken = csrfIn((await attacker.get('/signin')).body);
      const signedInAttacker = new Browser(t.app);
      await signedInAttacker.signIn(grace.userPrincipalName);
      const graceToken = csrfIn((await signedInAttacker.get('/mail/photo')).body);
      for (const [label, from, token] of [
        ['anonymous', attacker, anonymousToken],
        ['another session', signedInAttacker, graceToken],
      ] as const) {
        const planted = new Browser(t.app);
        planted.cookies.set('photosync_session', victim.session!);
        planted.cookies.set('_csrf', from.cookies.get('_csrf')!);
        const response = await planted.submit('/mail/photo', '/mail/photo/remove', {}, token);
        assert.equal(response.statusCode, 403, `a token from ${label} is refused`);
        assert.equal(await etagOf(ada), etag, 'the photo is still there');
      }
      const own = await victim.submit('/mail/photo', '/mail/photo/remove', {});
      assert.equal(own.headers.location, '/mail/photo?done=removed', "the victim's own token works");
      await t.services.mail.setPhoto(CLI_ACTOR, ada, photo, 'cli');
    });

    // Item 10 of issue 10.
    test("without METRICS_TOKEN, /metrics answers only an admin's session or admin-scoped token", async () => {
      const scrape = (headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url: '/metrics', headers });
      assert.equal((await scrape()).statusCode, 401);
      assert.equal((await scrape(bearer(await t.tokenFor(ada)))).statusCode, 403);
      assert.equal((await scrape(bearer(await t.tokenFor(root)))).statusCode, 403, "an admin's photos token");
      const adminToken = (await t.services.identity.createApiToken(CLI_ACTOR, root, 'prometheus', { scope: 'admin' })).token;
      const allowed = await scrape(bearer(adminToken));
      assert.equal(allowed.statusCode, 200);
      assert.match(allowed.body, /photosync_people_by_sync_state\{state="in-sync"\}/);
      const admin = new Browser(t.app);
      await admin.signIn(root.userPrincipalName);
      assert.equal((await admin.get('/metrics')).statusCode, 200, 'an admin in a browser');
    });
  });

  describe(`METRICS_TOKEN on ${kind}`, { skip }, () => {
    let t: TestApp;
    const METRICS_TOKEN = 'prometheus-scrape-secret-0123456789';
    before(async () => {
      t = await startTestApp(kind, { METRICS_TOKEN });
    });
    after(() => t?.close());

    test('with METRICS_TOKEN, /metrics needs it as a bearer token', async () => {
      const scrape = (headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url: '/metrics', headers });
      const anonymous = await scrape();
      assert.equal(anonymous.statusCode, 401);
      assert.doesNotMatch(anonymous.body, /photosync_/, 'no metric leaks in the refusal');
      assert.equal((await scrape(bearer(`${METRICS_TOKEN}x`))).statusCode, 401);
      assert.equal((await scrape({ authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` })).statusCode, 401);
      assert.equal((await scrape(bearer(await t.tokenFor(await t.addPerson('ada@contoso.example'))))).statusCode, 403);
      const ok = await scrape(bearer(METRICS_TOKEN));
      assert.equal(ok.statusCode, 200);
      assert.match(ok.body, /photosync_http_request_duration_seconds/);
    });

    test('a METRICS_TOKEN too short to be a secret is a configuration error', () => {
      assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN/);
    });
  });

  // Item 5 of issue 10.
  describe(`password changes are rate limited on ${kind}`, { skip }, () => {
    test('the 4th password change in a minute from one session gets 429 with Retry-After, whatever the password', async () => {
      const t = await startTestApp(kind, { SIGNIN_ATTEMPTS_PER_MINUTE: '3' });
      try {
        const ada = await t.addPerson('ada@contoso.example');
        await t.addPerson('grace@contoso.example');
        const browser = new Browser(t.app);
        await browser.signIn(ada.userPrincipalName);
        const token = csrfIn((await browser.get('/account/password')).body);
        const attempt = (current: string) =>
          browser.submit('/account/password', '/account/password', { current, new: NEW_PASSWORD, confirm: NEW_PASSWORD }, token);
        for (let i = 0; i < 3; i++) assert.equal((await attempt(`wrong guess number ${i}`)).statusCode, 400);
        const limited = await attempt(TEST_PASSWORD);
        assert.equal(limited.statusCode, 429, 'refused even with the right password');
        assert.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After');
        assert.match(limited.body, /Too many password changes/);
        await t.services.identity.signIn(ada.userPrincipalName, TEST_PASSWORD); // the password is unchanged

        const other = new Browser(t.app);
        await other.signIn('grace@contoso.example');
        const graceChange = await other.submit('/account/password', '/account/password', {
          current: TEST_PASSWORD,
          new: NEW_PASSWORD,
          confirm: NEW_PASSWORD,
        });
        assert.equal(graceChange.statusCode, 303, "another person's session is not limited by Ada's attempts");
      } finally {
        await t.close();
      }
    });
  });
}
