import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureFirstAdmin } from '../../src/identity/index.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

describe('the first admin', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('sqlite');
  });
  after(() => t.close());

  test('a fresh installation gets one admin with the configured password, and only once', async () => {
    const { directory, identity } = t.services;
    const first = await ensureFirstAdmin(directory, identity, {
      userPrincipalName: 'root@contoso.example',
      password: 'a configured passphrase',
    });
    assert.equal(first.created, true);
    assert.equal(first.created && first.oneTimePassword, undefined, 'no one-time password when one is configured');
    const signedIn = await identity.signIn('root@contoso.example', 'a configured passphrase');
    assert.equal(signedIn.person.role, 'admin');
    assert.equal(signedIn.person.mustChangePassword, false);

    const again = await ensureFirstAdmin(directory, identity, { userPrincipalName: 'other@contoso.example' });
    assert.equal(again.created, false, 'an admin exists: nothing is created');
    assert.equal(await directory.findPerson('other@contoso.example'), undefined);
  });

  test('a one-time password must be changed at the first sign-in, and only then is the portal open', async () => {
    const t2 = await startTestApp('sqlite');
    try {
      const result = await ensureFirstAdmin(t2.services.directory, t2.services.identity, { userPrincipalName: 'admin@contoso.example' });
      assert.ok(result.created && result.oneTimePassword && result.oneTimePassword.length >= 20);
      const { person } = await t2.services.identity.signIn('admin@contoso.example', result.oneTimePassword);
      assert.equal(person.mustChangePassword, true);
      const cookie = await t2.signIn('admin@contoso.example', result.oneTimePassword);
      for (const url of ['/', '/mail/photo', '/sites']) {
        const page = await t2.app.inject({ method: 'GET', url, headers: { cookie } });
        assert.equal(page.headers.location, '/account/password', url);
      }
      assert.equal((await t2.app.inject({ method: 'GET', url: '/account/password', headers: { cookie } })).statusCode, 200);
      await t2.services.identity.changePassword(person, result.oneTimePassword, 'my own long passphrase');
      const after = await t2.services.identity.signIn('admin@contoso.example', 'my own long passphrase');
      assert.equal(after.person.mustChangePassword, false);
      await assert.rejects(t2.services.identity.signIn('admin@contoso.example', result.oneTimePassword), /incorrect/);
    } finally {
      await t2.close();
    }
  });
});
