import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { photoContentEtag } from '../../src/mail/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { OidcBrowser } from '../support/oidc-flow.ts';
import { startTestOpenIdProvider, type TestOpenIdProvider } from '../support/openid-provider.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

const APP_ORIGIN = 'http://photosync.test';
const csrfTokenIn = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)![1]!;

/** Warnings and errors the app logged, as objects. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** A port nothing listens on: an issuer that is down. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function oidcEnv(provider: TestOpenIdProvider, extra: Record<string, string> = {}): Record<string, string> {
  return {
    OIDC_ISSUER: provider.issuer,
    OIDC_CLIENT_ID: provider.clientId,
    OIDC_CLIENT_SECRET: provider.clientSecret,
    OIDC_ALLOWED_DOMAINS: 'contoso.example',
    OIDC_BUTTON_LABEL: 'Sign in with Contoso',
    ...extra,
  };
}

const assertFailurePage = (response: { statusCode: number; body: string }, status: number, message: RegExp) => {
  assert.equal(response.statusCode, status, response.body.slice(0, 300));
  assert.match(response.body, /<h1>Sign-in did not work<\/h1>/);
  assert.match(response.body, message);
  assert.match(response.body, /<a class="button" href="\/signin\/oidc[^"]*">Try again<\/a>/, 'a way to try again');
  assert.match(response.body, /<header class="bar">/, "in photosync's layout");
  assert.doesNotMatch(response.body, /\bat [\w.]+ \(|node_modules/, 'never a stack');
};

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`OIDC sign-in against a real OpenID Provider on ${kind}`, { skip }, () => {
    let provider: TestOpenIdProvider;
    let t: TestApp;
    let logs: ReturnType<typeof capturedLogger>;
    let browser: OidcBrowser;
    let counter = 0;

    before(async () => {
      provider = await startTestOpenIdProvider({
        redirectUris: [`${APP_ORIGIN}/signin/oidc/callback`],
        postLogoutRedirectUris: [`${APP_ORIGIN}/signin`],
      });
      logs = capturedLogger();
      t = await startTestApp(kind, oidcEnv(provider), { logger: logs.logger });
    });
    after(async () => {
      await t.close();
      await provider.close();
    });
    beforeEach(() => {
      browser = new OidcBrowser(t.app, APP_ORIGIN);
    });

    /** A person in photosync and the same person at the provider (login name → claims). */
    const person = async (claims: Record<string, unknown> = {}) => {
      const n = ++counter;
      const upn = `person${n}@contoso.example`;
      const added = await t.addPerson(upn);
      provider.accounts.set(`login${n}`, { preferred_username: upn.toUpperCase(), name: `Person ${n}`, email: upn, ...claims });
      return { login: `login${n}`, person: added };
    };

    test('the sign-in page shows the button beside the password form', async () => {
      const page = await t.app.inject({ method: 'GET', url: '/signin?next=%2Fsites' });
      assert.match(page.body, /<a class="button" href="\/signin\/oidc\?next=%2Fsites">Sign in with Contoso<\/a>/);
      assert.match(page.body, /type="password"/, 'local passwords stay on by default');
    });

    test('a known person signs in at the provider (UPN matched without regard to case) and lands on the page they first asked for', async () => {
      const { login, person: ada } = await person();
      const callback = await browser.signIn(login, '/sites');
      assert.equal(callback.statusCode, 303, callback.body.slice(0, 300));
      assert.equal(callback.headers.location, '/sites');
      const home = await browser.get('/');
      assert.equal(home.statusCode, 200);
      assert.match(home.body, new RegExp(`Hello, ${ada.displayName}`));
      const [entry] = await t.services.audit.list(CLI_ACTOR, { action: 'signin', person: ada.userPrincipalName, limit: 1 });
      assert.equal(entry?.actor.kind, 'oidc', 'the sign-in is audited with its source');
    });

    test("without a page asked for, the person lands in the portal; another site's address is never followed", async () => {
      const { login } = await person();
      assert.equal((await browser.signIn(login)).headers.location, '/');
      const other = new OidcBrowser(t.app, APP_ORIGIN);
      assert.equal((await other.signIn(login, '//evil.example/')).headers.location, '/');
    });

    test('a callback used twice is refused the second time', async () => {
      const { login } = await person();
      const callback = await browser.atProvider(await browser.start(), { login });
      const state = browser.app.cookies.get('photosync_oidc_state')!;
      assert.equal((await browser.get(callback)).statusCode, 303);
      browser.app.cookies.set('photosync_oidc_state', state);
      assertFailurePage(await browser.get(callback), 400, /already used/);
    });

    test('an unknown person is refused when people are not created at first sign-in', async () => {
      provider.accounts.set('stranger', { preferred_username: 'stranger@contoso.example', name: 'A Stranger' });
      assertFailurePage(await browser.signIn('stranger'), 403, /stranger@contoso\.example has no account in photosync yet\. Ask an admin/);
      assert.equal(await t.services.directory.findPerson('stranger@contoso.example'), undefined);
      assert.ok(
        logs.lines.some((l) => l.reason === 'unknown-person' && l.upn === 'stranger@contoso.example'),
        'logged with why',
      );
    });

    test('an account of a domain that is not allowed is refused', async () => {
      provider.accounts.set('outsider', { preferred_username: 'someone@fabrikam.example' });
      assertFailurePage(await browser.signIn('outsider'), 403, /only accounts of contoso\.example can/);
      assert.ok(logs.lines.some((l) => l.reason === 'domain' && l.msg === 'OIDC sign-in refused: domain'));
    });

    test('a disabled person cannot sign in', async () => {
      const { login, person: grace } = await person();
      await t.services.database.db.updateTable('people').set({ enabled: 0 }).where('id', '=', grace.id).execute();
      assertFailurePage(await browser.signIn(login), 403, /is disabled in photosync/);
      assert.equal((await browser.get('/')).headers.location, '/signin?next=%2F', 'not signed in');
    });

    test('a callback with a wrong state, or from a browser that did not start it, is refused', async () => {
      const { login } = await person();
      const callback = await browser.atProvider(await browser.start(), { login });
      const tampered = callback.replace(/state=[^&]+/, 'state=forged');
      assertFailurePage(await browser.get(tampered), 400, /did not start in this browser/);
      const otherBrowser = new OidcBrowser(t.app, APP_ORIGIN);
      assertFailurePage(await otherBrowser.get(callback), 400, /did not start in this browser/);
      assert.ok(logs.lines.some((l) => l.reason === 'bad-state'));
    });

    test('an ID token whose nonce does not match the sign-in is refused', async () => {
      const { login } = await person();
      const authorizationUrl = await browser.start();
      // The provider signs the nonce it was sent; the sign-in now expects another one.
      await t.services.database.db.updateTable('oidc_sign_ins').set({ nonce: 'not-the-nonce-that-was-sent' }).execute();
      const callback = await browser.atProvider(authorizationUrl, { login });
      assertFailurePage(await browser.get(callback), 400, /could not be verified/);
      assert.ok(
        logs.lines.some((l) => l.reason === 'unverified' && /nonce/.test(String(l.cause))),
        'the log says it was the nonce',
      );
    });

    test('a sign-in cancelled at the provider (access_denied) gives a clear page', async () => {
      const callback = await browser.atProvider(await browser.start(), 'cancel');
      assert.match(callback, /error=access_denied/);
      assertFailurePage(
        await browser.get(callback),
        403,
        /cancelled or refused at the organization(&#39;|')s sign-in page \(The person cancelled the sign-in\)/,
      );
      assert.ok(logs.lines.some((l) => l.reason === 'provider-error' && l.error === 'access_denied'));
    });

    test("sign-out also ends the provider's session (RP-initiated, with id_token_hint) and comes back to sign-in", async () => {
      const { login } = await person();
      await browser.signIn(login);
      const home = await browser.get('/');
      const signOut = await browser.post('/signout', { _csrf: csrfTokenIn(home.body) });
      assert.equal(signOut.statusCode, 303);
      const location = new URL(signOut.headers.location as string);
      assert.equal(location.origin, provider.issuer);
      assert.ok(location.searchParams.get('id_token_hint'), 'id_token_hint');
      assert.equal(location.searchParams.get('post_logout_redirect_uri'), `${APP_ORIGIN}/signin`);
      assert.equal((await browser.get('/')).statusCode, 303, 'signed out of photosync');
      const atProvider = await fetch(location, { redirect: 'manual' });
      assert.equal(atProvider.status, 200, 'the provider knows the sign-out request (its confirmation page)');
    });

    describe('the picture claim is a directory photo', () => {
      let jpeg: Buffer;
      before(async () => {
        jpeg = await makePhoto('jpeg', 300, 300, { color: '#2050a0' });
      });
      const signInWithPicture = async (picture: unknown) => {
        const { login, person: who } = await person({ picture });
        const response = await new OidcBrowser(t.app, APP_ORIGIN).signIn(login);
        assert.equal(response.statusCode, 303, 'signed in');
        await t.services.oidc!.picturesSettled();
        return who;
      };

      test('a URL is fetched', async () => {
        provider.files.set('/pictures/p.jpg', { body: jpeg });
        const who = await signInWithPicture(`${provider.issuer}/pictures/p.jpg`);
        const version = await t.services.mail.currentVersion(who);
        assert.equal(version?.etag, photoContentEtag(jpeg));
        assert.equal(version?.source, 'oidc');
      });

      test('a data: URL is decoded', async () => {
        const who = await signInWithPicture(`data:image/jpeg;base64,${jpeg.toString('base64')}`);
        assert.equal((await t.services.mail.currentVersion(who))?.etag, photoContentEtag(jpeg));
      });

      test('raw base64 is decoded', async () => {
        const who = await signInWithPicture(jpeg.toString('base64'));
        assert.equal((await t.services.mail.currentVersion(who))?.etag, photoContentEtag(jpeg));
      });

      test('a picture that cannot be used is logged with who and why and never blocks the sign-in', async () => {
        provider.files.set('/pictures/elsewhere.jpg', { status: 302, headers: { location: 'file:///etc/passwd' } });
        provider.files.set('/pictures/missing.jpg', { status: 401, body: 'token needed' });
        const cases: [unknown, RegExp][] = [
          [`${provider.issuer}/pictures/elsewhere.jpg`, /redirects to a file: URL/],
          [`${provider.issuer}/pictures/missing.jpg`, /answered 401/],
          ['ftp://pictures.example/p.jpg', /scheme is not http or https/],
          ['data:text/html;base64,PGh0bWw+', /holds text\/html, not an image/],
          [Buffer.from('not an image at all').toString('base64'), /not an image/],
        ];
        for (const [picture, why] of cases) {
          const who = await signInWithPicture(picture);
          assert.equal(await t.services.mail.currentVersion(who), undefined);
          const line = logs.lines.find(
            (l) => l.upn === who.userPrincipalName && /picture from the OIDC sign-in could not be used/.test(String(l.msg)),
          );
          assert.ok(line, `logged for ${String(picture).slice(0, 40)}`);
          assert.match(String(line.reason), why);
        }
      });

      test('a picture URL that does not answer in time is given up', async () => {
        provider.files.set('/pictures/slow.jpg', { body: jpeg, delayMs: 60_000 });
        const started = Date.now();
        const who = await signInWithPicture(`${provider.issuer}/pictures/slow.jpg`);
        assert.ok(Date.now() - started < 30_000);
        const line = logs.lines.find((l) => l.upn === who.userPrincipalName);
        assert.match(String(line?.reason), /took longer than/);
      });
    });
  });

  describe(`OIDC sign-in settings on ${kind}`, { skip }, () => {
    let provider: TestOpenIdProvider;
    before(async () => {
      provider = await startTestOpenIdProvider({
        redirectUris: [`${APP_ORIGIN}/signin/oidc/callback`],
        postLogoutRedirectUris: [`${APP_ORIGIN}/signin`],
      });
    });
    after(() => provider.close());

    test('an unknown person is created at first sign-in when set, with the name and mail from the provider', async () => {
      const t = await startTestApp(kind, oidcEnv(provider, { OIDC_CREATE_PEOPLE: 'true', OIDC_UPN_CLAIM: 'email' }));
      try {
        provider.accounts.set('newcomer', { email: 'New.Comer@contoso.example', preferred_username: 'ignored', name: 'New Comer' });
        const browser = new OidcBrowser(t.app, APP_ORIGIN);
        assert.equal((await browser.signIn('newcomer')).statusCode, 303);
        const created = await t.services.directory.findPerson('new.comer@contoso.example');
        assert.equal(created?.displayName, 'New Comer');
        assert.equal(created?.mail, 'New.Comer@contoso.example');
        const [added] = await t.services.audit.list(CLI_ACTOR, { action: 'person.add', person: 'new.comer@contoso.example', limit: 1 });
        assert.equal(added?.actor.kind, 'oidc', 'added through services.people, audited with the sign-in as the actor');
        assert.match((await browser.get('/')).body, /Hello, New Comer/);

        provider.accounts.set('unverified', { email: 'someone.else@contoso.example', email_verified: false });
        const refused = await new OidcBrowser(t.app, APP_ORIGIN).signIn('unverified');
        assertFailurePage(refused, 403, /has not verified the address someone\.else@contoso\.example/);
        assert.equal(
          await t.services.directory.findPerson('someone.else@contoso.example'),
          undefined,
          'nobody is added for an unverified address',
        );
      } finally {
        await t.close();
      }
    });

    test('with local passwords off the password form is gone and a password sign-in is refused', async () => {
      const t = await startTestApp(kind, oidcEnv(provider, { LOCAL_PASSWORDS: 'false' }));
      try {
        await t.addPerson('ada@contoso.example');
        const page = await t.app.inject({ method: 'GET', url: '/signin' });
        assert.match(page.body, /Sign in with Contoso/);
        assert.doesNotMatch(page.body, /type="password"/);
        await assert.rejects(t.signIn('ada@contoso.example'), /sign-in failed: 403/);
      } finally {
        await t.close();
      }
    });

    test('an issuer that is down gives a clear page, and the sign-in works once it is back', async () => {
      const logs = capturedLogger();
      const t = await startTestApp(kind, oidcEnv(provider, { OIDC_ISSUER: `http://127.0.0.1:${await closedPort()}` }), {
        logger: logs.logger,
      });
      try {
        const response = await t.app.inject({ method: 'GET', url: '/signin/oidc' });
        assertFailurePage(response, 502, /sign-in service cannot be reached right now/);
        assert.ok(
          logs.lines.some((l) => l.reason === 'provider-unavailable' && typeof l.cause === 'string'),
          'logged with why',
        );
      } finally {
        await t.close();
      }
    });

    test("an expired ID token (this server's clock two hours ahead) gives a clear page", async () => {
      const logs = capturedLogger();
      const ahead = () => new Date(Date.now() + 2 * 3_600_000);
      const t = await startTestApp(kind, oidcEnv(provider), { logger: logs.logger, now: ahead });
      try {
        await t.addPerson('clock@contoso.example');
        provider.accounts.set('clock', { preferred_username: 'clock@contoso.example' });
        const browser = new OidcBrowser(t.app, APP_ORIGIN);
        assertFailurePage(await browser.signIn('clock'), 400, /clock/);
        assert.ok(logs.lines.some((l) => l.reason === 'clock'));
      } finally {
        await t.close();
      }
    });
  });
}
