import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';

test('the defaults give the embedded SQLite file under ./data', () => {
  const config = loadConfig({});
  assert.equal(config.port, 3000);
  assert.equal(config.databaseUrl, undefined);
  assert.match(config.sqliteFile, /data[/\\]photosync\.db$/);
  assert.equal(config.publicUrl.href, 'http://localhost:3000/');
});

test('each bad value is refused with a message naming the variable and what is allowed', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ PORT: '65536' }, /^PORT must be a whole number from 0 to 65535/],
    [{ PORT: '3000x' }, /^PORT must be/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL must be a postgres:\/\//],
    [{ PUBLIC_URL: 'ftp://x' }, /^PUBLIC_URL must be an absolute http/],
    [{ PUBLIC_URL: 'not a url' }, /^PUBLIC_URL must be/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of fatal, error/],
    [{ TRUST_PROXY: 'maybe' }, /^TRUST_PROXY must be true or false/],
    [{ PHOTOSYNC_ADMIN_PASSWORD: 'short' }, /^PHOTOSYNC_ADMIN_PASSWORD must be at least 12/],
    [{ PHOTOSYNC_ADMIN_UPN: 'admin' }, /^PHOTOSYNC_ADMIN_UPN must look like name@domain/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => loadConfig(env),
      (error: Error) => error instanceof ConfigError && message.test(error.message),
      JSON.stringify(env),
    );
  }
});

test('postgres:// selects PostgreSQL', () => {
  assert.equal(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).databaseUrl, 'postgres://u@h/db');
});

const OIDC = { OIDC_ISSUER: 'https://login.contoso.example/realms/staff', OIDC_CLIENT_ID: 'photosync' };

test('OIDC sign-in is off unless an issuer is set; its settings have sensible defaults', () => {
  assert.equal(loadConfig({}).oidc, undefined);
  assert.equal(loadConfig({}).localPasswords, true);
  const oidc = loadConfig(OIDC).oidc!;
  assert.equal(oidc.issuer.href, 'https://login.contoso.example/realms/staff');
  assert.equal(oidc.clientId, 'photosync');
  assert.equal(oidc.clientSecret, undefined, 'a public client (PKCE only) without a secret');
  assert.deepEqual(oidc.scopes, ['openid', 'profile', 'email']);
  assert.equal(oidc.upnClaim, 'preferred_username');
  assert.deepEqual(oidc.allowedDomains, []);
  assert.equal(oidc.createPeople, false);
  assert.match(oidc.buttonLabel, /Sign in with/);
});

test('the OIDC settings are read as given: secret from a file, scopes, UPN claim, domains, people created, label, passwords off', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-config-'));
  const secretFile = path.join(dir, 'secret');
  fs.writeFileSync(secretFile, 's3cret-from-a-file\n');
  const config = loadConfig({
    ...OIDC,
    OIDC_CLIENT_SECRET_FILE: secretFile,
    OIDC_SCOPES: 'openid email',
    OIDC_UPN_CLAIM: 'upn',
    OIDC_ALLOWED_DOMAINS: 'Contoso.example, @fabrikam.example',
    OIDC_CREATE_PEOPLE: 'true',
    OIDC_BUTTON_LABEL: 'Sign in with Contoso',
    LOCAL_PASSWORDS: 'false',
  });
  fs.rmSync(dir, { recursive: true });
  assert.equal(config.oidc?.clientSecret, 's3cret-from-a-file');
  assert.deepEqual(config.oidc?.scopes, ['openid', 'email']);
  assert.equal(config.oidc?.upnClaim, 'upn');
  assert.deepEqual(config.oidc?.allowedDomains, ['contoso.example', 'fabrikam.example']);
  assert.equal(config.oidc?.createPeople, true);
  assert.equal(config.oidc?.buttonLabel, 'Sign in with Contoso');
  assert.equal(config.localPasswords, false);
  assert.equal(loadConfig({ ...OIDC, OIDC_CLIENT_SECRET: 'inline' }).oidc?.clientSecret, 'inline');
  assert.equal(
    loadConfig({ OIDC_ISSUER: 'http://127.0.0.1:8080', OIDC_CLIENT_ID: 'x' }).oidc?.issuer.protocol,
    'http:',
    'plain http for a provider on this machine',
  );
});

test('each bad OIDC setting is refused with a message naming it', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ OIDC_ISSUER: 'not a url', OIDC_CLIENT_ID: 'x' }, /^OIDC_ISSUER must be the provider's issuer URL/],
    [
      { OIDC_ISSUER: 'http://login.contoso.example', OIDC_CLIENT_ID: 'x' },
      /^OIDC_ISSUER must be an https:\/\/ URL \(http:\/\/ only for localhost\)/,
    ],
    [{ OIDC_ISSUER: 'https://login.contoso.example' }, /^OIDC_CLIENT_ID must be set when OIDC_ISSUER is/],
    [{ OIDC_CLIENT_ID: 'x' }, /^OIDC_CLIENT_ID is set but OIDC_ISSUER is not/],
    [{ ...OIDC, OIDC_CLIENT_SECRET: 'a', OIDC_CLIENT_SECRET_FILE: '/x' }, /^Set OIDC_CLIENT_SECRET or OIDC_CLIENT_SECRET_FILE, not both/],
    [{ ...OIDC, OIDC_CLIENT_SECRET_FILE: '/nonexistent/secret' }, /^OIDC_CLIENT_SECRET_FILE cannot be read \(ENOENT/],
    [{ ...OIDC, OIDC_SCOPES: 'profile email' }, /^OIDC_SCOPES must include openid/],
    [{ ...OIDC, OIDC_UPN_CLAIM: 'sub' }, /^OIDC_UPN_CLAIM must be one of preferred_username, upn, email/],
    [{ ...OIDC, OIDC_ALLOWED_DOMAINS: 'contoso.example, not a domain!' }, /^OIDC_ALLOWED_DOMAINS must be domains/],
    [{ ...OIDC, OIDC_CREATE_PEOPLE: 'sometimes' }, /^OIDC_CREATE_PEOPLE must be true or false/],
    [{ ...OIDC, OIDC_BUTTON_LABEL: 'x'.repeat(81) }, /^OIDC_BUTTON_LABEL must be at most 80/],
    [{ LOCAL_PASSWORDS: 'false' }, /^LOCAL_PASSWORDS=false needs OIDC sign-in/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => loadConfig(env),
      (error: Error) => error instanceof ConfigError && message.test(error.message),
      JSON.stringify(env),
    );
  }
});

const LDAP = { LDAP_URL: 'ldaps://dc.example:636', LDAP_BASE_DN: 'dc=example,dc=com' };

test('LDAP sync is off without LDAP_URL, and on with the directory defaults when it is set', () => {
  assert.equal(loadConfig({}).ldap, undefined);
  const ldap = loadConfig(LDAP).ldap!;
  assert.equal(ldap.url, 'ldaps://dc.example:636');
  assert.equal(ldap.filter, '(objectClass=person)');
  assert.deepEqual(ldap.attributes, {
    userPrincipalName: 'userPrincipalName',
    displayName: 'displayName',
    mail: 'mail',
    photo: 'thumbnailPhoto',
    stableId: 'entryUUID',
    changedAt: 'modifyTimestamp',
  });
  assert.deepEqual(ldap.disabledRule, { kind: 'none' });
  assert.equal(ldap.pageSize, 500);
  assert.equal(ldap.intervalMinutes, 0);
  assert.equal(ldap.bindDn, undefined);
});

test('LDAP settings: an Active Directory setup is read as given', () => {
  const ldap = loadConfig({
    ...LDAP,
    LDAP_BIND_DN: 'CN=photosync,OU=Service,DC=example,DC=com',
    LDAP_BIND_PASSWORD_FILE: '/run/secrets/ldap',
    LDAP_FILTER: '(&(objectCategory=person)(objectClass=user)(!(objectClass=computer)))',
    LDAP_ID_ATTRIBUTE: 'objectGUID',
    LDAP_CHANGED_ATTRIBUTE: 'whenChanged',
    LDAP_DISABLED_RULE: 'userAccountControl',
    LDAP_PAGE_SIZE: '1000',
    LDAP_SYNC_INTERVAL_MINUTES: '60',
    LDAP_CA_FILE: '/etc/ssl/corp-ca.pem',
  }).ldap!;
  assert.equal(ldap.bindPasswordFile, '/run/secrets/ldap');
  assert.equal(ldap.attributes.stableId, 'objectGUID');
  assert.deepEqual(ldap.disabledRule, { kind: 'userAccountControl' });
  assert.equal(ldap.intervalMinutes, 60);
  assert.equal(ldap.caFile, '/etc/ssl/corp-ca.pem');
  assert.deepEqual(loadConfig({ ...LDAP, LDAP_DISABLED_RULE: 'employeeType=disabled' }).ldap!.disabledRule, {
    kind: 'attribute',
    attribute: 'employeeType',
    value: 'disabled',
  });
  assert.equal(loadConfig({ LDAP_URL: 'ldap://ldap.example', LDAP_BASE_DN: 'dc=x', LDAP_STARTTLS: 'true' }).ldap!.startTls, true);
});

test('each bad LDAP value is refused with a message naming the variable and what is allowed', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ LDAP_BASE_DN: 'dc=x' }, /^LDAP_BASE_DN is set but LDAP_URL is not/],
    [{ ...LDAP, LDAP_URL: 'http://dc.example' }, /^LDAP_URL must be an ldap:\/\/ or ldaps:\/\/ URL/],
    [{ ...LDAP, LDAP_URL: 'ldap://dc.example/dc=x?cn' }, /^LDAP_URL must be .* host and optional port only/],
    [{ ...LDAP, LDAP_URL: 'not a url' }, /^LDAP_URL must be/],
    [{ ...LDAP, LDAP_STARTTLS: 'true' }, /^LDAP_STARTTLS is for ldap:\/\/ URLs/],
    [{ LDAP_URL: 'ldap://h' }, /^LDAP_BASE_DN must be set/],
    [{ ...LDAP, LDAP_BIND_DN: 'cn=x' }, /^LDAP_BIND_DN needs LDAP_BIND_PASSWORD/],
    [{ ...LDAP, LDAP_BIND_PASSWORD: 'secret' }, /^LDAP_BIND_PASSWORD needs LDAP_BIND_DN/],
    [
      { ...LDAP, LDAP_BIND_DN: 'cn=x', LDAP_BIND_PASSWORD: 's', LDAP_BIND_PASSWORD_FILE: '/f' },
      /^Set LDAP_BIND_PASSWORD or LDAP_BIND_PASSWORD_FILE, not both/,
    ],
    [{ ...LDAP, LDAP_FILTER: 'objectClass=person' }, /^LDAP_FILTER must be an LDAP filter in parentheses/],
    [{ ...LDAP, LDAP_PHOTO_ATTRIBUTE: 'thumbnail photo' }, /^LDAP_PHOTO_ATTRIBUTE must be an attribute name/],
    [{ ...LDAP, LDAP_DISABLED_RULE: 'disabled' }, /^LDAP_DISABLED_RULE must be none, userAccountControl/],
    [{ ...LDAP, LDAP_PAGE_SIZE: '0' }, /^LDAP_PAGE_SIZE must be a whole number from 1 to 10000/],
    [{ ...LDAP, LDAP_SYNC_INTERVAL_MINUTES: '-5' }, /^LDAP_SYNC_INTERVAL_MINUTES must be a whole number from 0/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => loadConfig(env),
      (error: Error) => error instanceof ConfigError && message.test(error.message),
      JSON.stringify(env),
    );
  }
});
