import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { multipart } from '../support/multipart.ts';
import { cookiesOf, startTestApp, TEST_PASSWORD, type TestApp } from '../support/test-app.ts';

function csrfTokenIn(page: LightMyRequestResponse): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(token, 'the page has a CSRF token');
  return token;
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`the portal on ${kind}`, { skip }, () => {
    let t: TestApp;

    before(async () => {
      t = await startTestApp(kind);
      await t.addPerson('ada@contoso.example');
      await t.addPerson('grace@contoso.example');
    });
    after(() => t.close());

    const signInForm = async () => {
      const page = await t.app.inject({ method: 'GET', url: '/signin' });
      return { cookie: cookiesOf(page), token: csrfTokenIn(page) };
    };
    const postSignIn = async (username: string, password: string, form?: { cookie: string; token: string }) => {
      const { cookie, token } = form ?? (await signInForm());
      return t.app.inject({
        method: 'POST',
        url: '/signin?next=/mail/photo',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: token, username, password }).toString(),
      });
    };

    test('the home page sends a visitor to the sign-in page', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/' });
      assert.equal(response.statusCode, 303);
      assert.equal(response.headers.location, '/signin?next=%2F');
    });

    test('signing in sets an HttpOnly SameSite=Lax session cookie and goes where the person was headed', async () => {
      const response = await postSignIn('ada@contoso.example', TEST_PASSWORD);
      assert.equal(response.statusCode, 303);
      assert.equal(response.headers.location, '/mail/photo');
      const session = ([] as string[]).concat(response.headers['set-cookie'] ?? []).find((c) => c.startsWith('photosync_session='));
      assert.ok(session);
      assert.match(session, /HttpOnly/i);
      assert.match(session, /SameSite=Lax/i);
    });

    test('an unknown person and a wrong password get the same message', async () => {
      const unknown = await postSignIn('nobody@contoso.example', TEST_PASSWORD);
      const wrong = await postSignIn('ada@contoso.example', 'not the password at all');
      assert.equal(unknown.statusCode, 401);
      assert.equal(wrong.statusCode, 401);
      const message = (r: LightMyRequestResponse) => /role="alert">([^<]+)</.exec(r.body)?.[1];
      assert.equal(message(unknown), 'The user name or password is incorrect.');
      assert.equal(message(unknown), message(wrong));
    });

    test('every sign-in gets a new session id', async () => {
      const first = cookiesOf(await postSignIn('ada@contoso.example', TEST_PASSWORD));
      const second = cookiesOf(await postSignIn('ada@contoso.example', TEST_PASSWORD));
      const id = (c: string) => /photosync_session=([^;]+)/.exec(c)?.[1];
      assert.ok(id(first) && id(second));
      assert.notEqual(id(first), id(second));
    });

    test('a form without its CSRF token is refused', async () => {
      const { cookie } = await signInForm();
      const response = await t.app.inject({
        method: 'POST',
        url: '/signin',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ username: 'ada@contoso.example', password: TEST_PASSWORD }).toString(),
      });
      assert.equal(response.statusCode, 403);
      assert.match(response.body, /reload the page/);
    });

    test('signing out ends the session', async () => {
      const cookie = await t.signIn('ada@contoso.example');
      const home = await t.app.inject({ method: 'GET', url: '/', headers: { cookie } });
      assert.equal(home.statusCode, 200);
      const out = await t.app.inject({
        method: 'POST',
        url: '/signout',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `_csrf=${encodeURIComponent(csrfTokenIn(home))}`,
      });
      assert.equal(out.statusCode, 303);
      assert.equal((await t.app.inject({ method: 'GET', url: '/', headers: { cookie } })).statusCode, 303);
    });

    test('the home page links to "Add your profile photo"', async () => {
      const cookie = await t.signIn('ada@contoso.example');
      const home = await t.app.inject({ method: 'GET', url: '/', headers: { cookie } });
      assert.match(home.body, /<a href="\/mail\/photo">Add your profile photo<\/a>/);
      assert.match(home.body, /<strong>Mail<\/strong>/);
    });

    test('a person uploads, replaces and removes their photo on the Mail page', async () => {
      const cookie = await t.signIn('grace@contoso.example');
      const upload = async (bytes: Buffer) => {
        const page = await t.app.inject({ method: 'GET', url: '/mail/photo', headers: { cookie } });
        const form = multipart({ _csrf: csrfTokenIn(page) }, { name: 'photo', filename: 'me.jpg', type: 'image/jpeg', bytes });
        return t.app.inject({
          method: 'POST',
          url: '/mail/photo',
          headers: { cookie, 'content-type': form.contentType },
          payload: form.payload,
        });
      };
      const first = await upload(await makePhoto('jpeg', 600, 600));
      assert.equal(first.statusCode, 303);
      assert.equal(first.headers.location, '/mail/photo?done=uploaded');
      const shown = await t.app.inject({ method: 'GET', url: '/mail/photo?done=uploaded', headers: { cookie } });
      assert.match(shown.body, /Your photo is saved in Mail/);
      assert.match(shown.body, /alt="Your current profile photo"/);
      assert.match(shown.body, /Replace photo/);

      const bad = await upload(Buffer.from('GIF89a not really'));
      assert.equal(bad.statusCode, 415);
      assert.match(bad.body, /role="alert">GIF images are not accepted here; upload a JPEG or PNG photo./);
      assert.match(bad.body, /alt="Your current profile photo"/, 'the previous photo is still there');

      const removePage = await t.app.inject({ method: 'GET', url: '/mail/photo', headers: { cookie } });
      const removed = await t.app.inject({
        method: 'POST',
        url: '/mail/photo/remove',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `_csrf=${encodeURIComponent(csrfTokenIn(removePage))}`,
      });
      assert.equal(removed.statusCode, 303);
      const after = await t.app.inject({ method: 'GET', url: '/mail/photo?done=removed', headers: { cookie } });
      assert.match(after.body, /You have no photo yet/);
    });

    test('pages carry the security headers: a CSP without inline script, nosniff, no framing', async () => {
      const page = await t.app.inject({ method: 'GET', url: '/signin' });
      const csp = page.headers['content-security-policy'] as string;
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      assert.equal(page.headers['referrer-policy'], 'same-origin');
      assert.doesNotMatch(page.body, /<script>|<script [^>]*>[^<]+<\/script>|\son\w+=/, 'no inline script or handlers');
    });

    test('a next= that leaves the site goes home instead', async () => {
      const { cookie, token } = await signInForm();
      const response = await t.app.inject({
        method: 'POST',
        url: '/signin?next=//evil.example/x',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: token, username: 'ada@contoso.example', password: TEST_PASSWORD }).toString(),
      });
      assert.equal(response.headers.location, '/');
    });
  });
}

describe('sign-in is rate limited', () => {
  test('after the allowed attempts a minute, sign-in answers 429 with Retry-After', async () => {
    const t = await startTestApp('sqlite', { SIGNIN_ATTEMPTS_PER_MINUTE: '3' });
    try {
      const page = await t.app.inject({ method: 'GET', url: '/signin' });
      const cookie = cookiesOf(page);
      const token = csrfTokenIn(page);
      const attempt = () =>
        t.app.inject({
          method: 'POST',
          url: '/signin',
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ _csrf: token, username: 'nobody@contoso.example', password: 'wrong password!' }).toString(),
        });
      for (let i = 0; i < 3; i++) assert.equal((await attempt()).statusCode, 401);
      const limited = await attempt();
      assert.equal(limited.statusCode, 429);
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.match(limited.body, /Too many sign-in attempts/);
    } finally {
      await t.close();
    }
  });
});
