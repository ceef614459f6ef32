import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AuditEntry } from '../../src/audit/index.ts';
import type { Person } from '../../src/directory/index.ts';
import { NotPermitted } from '../../src/errors.ts';
import { CLI_ACTOR, type Actor } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { runPhotosync } from '../support/run-cli.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`the audit log on ${kind}`, { skip }, () => {
    let t: TestApp;
    let dir: string;
    const cli = (args: string[]) => runPhotosync(args, t.env);
    const auditJson = async (...args: string[]): Promise<AuditEntry[]> => JSON.parse((await cli(['audit', '--json', ...args])).stdout);

    before(async () => {
      t = await startTestApp(kind);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-audit-'));
    });
    after(async () => {
      await t.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('the audit log records each action: who, whose photo, what, when, from where', async () => {
      const admin = await t.addPerson('boss@contoso.example', { role: 'admin' });
      const ada = await t.addPerson('ada@contoso.example');
      const adaToken = await t.tokenFor(ada);
      const adminToken = await t.tokenFor(admin);
      const put = (token: string, url: string, color: string) =>
        makePhoto('jpeg', 120, 120, { color }).then((payload) =>
          t.app.inject({
            method: 'PUT',
            url,
            headers: { ...bearer(token), 'content-type': 'image/jpeg' },
            payload,
            remoteAddress: '10.1.2.3',
          }),
        );
      assert.equal((await put(adaToken, '/v1.0/me/photo/$value', '#aa0000')).statusCode, 200);
      assert.equal((await put(adminToken, '/v1.0/users/ada@contoso.example/photo/$value', '#00aa00')).statusCode, 200);
      assert.equal(
        (
          await t.app.inject({
            method: 'DELETE',
            url: '/v1.0/users/ada@contoso.example/photo',
            headers: bearer(adminToken),
            remoteAddress: '10.1.2.4',
          })
        ).statusCode,
        204,
      );
      fs.writeFileSync(path.join(dir, 'ada@contoso.example.jpg'), await makePhoto('jpeg', 100, 100, { color: '#0000aa' }));
      assert.equal((await cli(['photos', 'import', '--dir', dir])).code, 0);
      assert.equal((await cli(['sync', 'ada@contoso.example'])).code, 0);
      assert.equal((await cli(['sync-mode', 'on-change'])).code, 0);
      const created = await cli(['tokens', 'create', '--user', 'ada@contoso.example', '--name', 'laptop']);
      const tokenId = /Created token (\S+) /.exec(created.stderr)![1]!;
      assert.equal((await cli(['tokens', 'revoke', tokenId])).code, 0);

      const entries = (await auditJson('--limit', '1000')).reverse();
      const summary = entries.map((e) => [e.actor.kind, e.actor.name, e.action, e.target?.name ?? null, e.ip]);
      const entriesFor = (action: string) => summary.filter((s) => s[2] === action);
      assert.deepEqual(
        summary.filter((s) => String(s[2]).startsWith('photo.')),
        [
          ['token', 'ada@contoso.example', 'photo.set', 'ada@contoso.example', '10.1.2.3'],
          ['token', 'boss@contoso.example', 'photo.replace', 'ada@contoso.example', '10.1.2.3'],
          ['token', 'boss@contoso.example', 'photo.remove', 'ada@contoso.example', '10.1.2.4'],
          ['import', 'cli', 'photo.set', 'ada@contoso.example', null],
        ],
      );
      assert.deepEqual(entriesFor('import.run'), [['import', 'cli', 'import.run', null, null]]);
      assert.deepEqual(entriesFor('sync.force'), [['cli', 'cli', 'sync.force', 'ada@contoso.example', null]]);
      assert.deepEqual(entriesFor('sites.sync'), [['sync', 'sync', 'sites.sync', 'ada@contoso.example', null]]);
      assert.deepEqual(entriesFor('sync.mode'), [['cli', 'cli', 'sync.mode', null, null]]);
      assert.match(entries.find((e) => e.action === 'sync.mode')!.detail!, /user-initiated every 60 min → on-change every 60 min/);
      assert.equal(entriesFor('token.create').length, 3, 'the two test tokens and the CLI one');
      assert.deepEqual(entriesFor('token.revoke'), [['cli', 'cli', 'token.revoke', 'ada@contoso.example', null]]);
      for (const entry of entries) assert.ok(Date.now() - Date.parse(entry.at) < 60_000, 'each entry has its time');
    });

    test('audit filters by action and time, and refuses a bad --since with exit 2', async () => {
      const removes = await auditJson('--action', 'photo.remove');
      assert.deepEqual(
        removes.map((e) => e.action),
        ['photo.remove'],
      );
      assert.ok((await auditJson('--since', '1h')).length > 5);
      assert.deepEqual(await auditJson('--since', '2999-01-01'), []);
      const text = await cli(['audit', '--person', 'ada@']);
      assert.match(text.stdout, /token:boss@contoso\.example {2}photo\.remove ada@contoso\.example/);
      for (const bad of [
        ['--since', 'yesterday'],
        ['--action', 'photo.delete'],
        ['--limit', '0'],
      ]) {
        const run = await cli(['audit', ...bad]);
        assert.equal(run.code, 2, bad.join(' '));
        assert.match(run.stderr, /error: option/);
      }
    });

    test('the audit page shows the entries to admins, with filters', async () => {
      const cookie = await t.signIn('boss@contoso.example');
      const page = await t.app.inject({ method: 'GET', url: '/admin/audit?action=photo.remove', headers: { cookie } });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<td data-label="What">Removed a photo<\/td><td data-label="Whose">ada@contoso\.example<\/td>/);
      assert.doesNotMatch(page.body, /<td data-label="What">Added a photo<\/td>/);
      assert.match(page.body, /10\.1\.2\.4/);
      for (const bad of ['/admin/audit?action=drop', '/admin/audit?since=last-week', '/admin/audit?before=-1']) {
        assert.equal((await t.app.inject({ method: 'GET', url: bad, headers: { cookie } })).statusCode, 400, bad);
      }
    });

    test('only an admin or the operator reads the audit log: the service refuses everyone else itself', async () => {
      const boss = await t.addPerson('reader-boss@contoso.example', { role: 'admin' });
      const ada = await t.addPerson('reader-ada@contoso.example');
      const session = (person: Person): Actor => ({ kind: 'person', person, via: 'session', sessionKey: 'test' });
      const refusedReaders: Actor[] = [
        session(ada),
        { kind: 'person', person: ada, via: 'token', scope: 'photos' },
        { kind: 'person', person: boss, via: 'token', scope: 'photos' },
      ];
      for (const reader of refusedReaders) {
        await assert.rejects(
          t.services.audit.list(reader, { limit: 1 }),
          (error: unknown) => error instanceof NotPermitted && /Only an admin/.test(error.message),
        );
      }
      const admins: Actor[] = [session(boss), { kind: 'person', person: boss, via: 'token', scope: 'admin' }, CLI_ACTOR];
      const everything = await t.services.audit.list(CLI_ACTOR, { limit: 1000 });
      assert.ok(everything.length > 0, 'the earlier tests left entries');
      for (const reader of admins) assert.deepEqual(await t.services.audit.list(reader, { limit: 1000 }), everything);
    });
  });
}
