import assert from 'node:assert/strict';
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
    assert.throws(() => loadConfig(env), (error: Error) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
  }
});

test('postgres:// selects PostgreSQL', () => {
  assert.equal(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).databaseUrl, 'postgres://u@h/db');
});
