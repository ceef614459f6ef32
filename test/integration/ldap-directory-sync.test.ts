import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DirectorySyncReport } from '../../src/directory-sync/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { runPhotosync } from '../support/run-cli.ts';
import { runOutcome } from '../support/sync-fixtures.ts';
import {
  ROOT_DN,
  ROOT_PASSWORD,
  slapdSkipReason,
  startSlapd,
  type DirectoryBranch,
  type Slapd,
  type TestPerson,
} from '../support/slapd.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

let branches = 0;

function ldapEnv(slapd: Slapd, branch: DirectoryBranch, extra: Record<string, string> = {}): Record<string, string> {
  return {
    LDAP_URL: slapd.url,
    LDAP_BIND_DN: ROOT_DN,
    LDAP_BIND_PASSWORD: ROOT_PASSWORD,
    LDAP_BASE_DN: branch.baseDn,
    LDAP_FILTER: '(objectClass=inetOrgPerson)',
    LDAP_DISABLED_RULE: 'photosyncTestStatus=disabled',
    ...extra,
  };
}

async function sync(t: TestApp, options: { dryRun?: boolean } = {}): Promise<DirectorySyncReport> {
  const { report } = await t.services.directorySync.start(CLI_ACTOR, { dryRun: options.dryRun === true });
  return report;
}

function outcomeOf(report: DirectorySyncReport, item: string) {
  const entry = report.entries.find((e) => e.item === item);
  assert.ok(entry, `${item} is in the report: ${JSON.stringify(report.entries)}`);
  return entry;
}

async function photoVersions(t: TestApp, personId: string): Promise<number> {
  const row = await t.services.database.db
    .selectFrom('photo_versions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('person_id', '=', personId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function person(t: TestApp, upn: string) {
  const found = await t.services.directory.findPersonFresh(
    (await t.services.directory.findPerson(upn))?.id ?? '00000000-0000-0000-0000-000000000000',
  );
  assert.ok(found, `${upn} exists`);
  return found;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`LDAP directory sync against slapd (${kind})`, { skip: slapdSkipReason ?? skip }, () => {
    let slapd: Slapd;
    const apps: TestApp[] = [];
    const appFor = async (branch: DirectoryBranch, extra: Record<string, string> = {}) => {
      const t = await startTestApp(kind, ldapEnv(slapd, branch, extra));
      apps.push(t);
      return t;
    };
    const newBranch = () => slapd.branch(`t${++branches}-${kind}`);

    before(async () => {
      slapd = await startSlapd();
    });
    after(async () => {
      for (const t of apps) await t.close();
      await slapd?.stop();
    });

    test('the first sync creates people with their names and mail and fills empty Mail photos from the directory (fill-when-empty)', async () => {
      const branch = await newBranch();
      const adaPhoto = await makePhoto('jpeg', 96, 96, { color: '#228833' });
      const carolOwn = await makePhoto('jpeg', 96, 96, { color: '#cc3311' });
      await branch.add([
        {
          uid: 'ada',
          userPrincipalName: 'ada@example.test',
          displayName: 'Ada Lovelace',
          mail: 'ada.lovelace@example.test',
          photo: adaPhoto,
        },
        { uid: 'bob', userPrincipalName: 'bob@example.test', displayName: 'Bob Builder' },
        {
          uid: 'carol',
          userPrincipalName: 'carol@example.test',
          displayName: 'Carol Directory',
          photo: await makePhoto('jpeg', 96, 96, { color: '#0077bb' }),
        },
      ]);
      const t = await appFor(branch);
      // Carol was there before the sync, with a photo of her own.
      const carol = await t.services.people.add(CLI_ACTOR, { userPrincipalName: 'carol@example.test', displayName: 'Carol' });
      await t.services.mail.setPhoto(CLI_ACTOR, carol, carolOwn, 'cli');
      const carolEtag = await t.services.mail.currentEtag(carol);

      const report = await sync(t);
      assert.equal(report.error, null);
      assert.equal(report.status, 'finished');
      assert.deepEqual(
        [
          outcomeOf(report, 'ada@example.test').outcome,
          outcomeOf(report, 'bob@example.test').outcome,
          outcomeOf(report, 'carol@example.test').outcome,
        ],
        ['created', 'created', 'updated'],
      );
      const ada = await person(t, 'ada@example.test');
      assert.equal(ada.displayName, 'Ada Lovelace');
      assert.equal(ada.mail, 'ada.lovelace@example.test');
      assert.equal(ada.enabled, true);
      assert.equal(outcomeOf(report, 'ada@example.test').photo, 'imported');
      assert.equal(await photoVersions(t, ada.id), 1);
      assert.equal((await person(t, 'bob@example.test')).displayName, 'Bob Builder');
      assert.equal(outcomeOf(report, 'bob@example.test').photo, null, 'no photo in the directory: nothing offered');
      // Carol's own photo stays (the default policy fills only empty ones); her name follows the directory.
      assert.equal(outcomeOf(report, 'carol@example.test').photo, 'kept-own-photo');
      assert.equal(await t.services.mail.currentEtag(carol), carolEtag);
      assert.equal((await person(t, 'carol@example.test')).displayName, 'Carol Directory');
      assert.equal(report.photosImported, 1);
      // The people changes are the directory's in the audit log.
      const audit = await t.services.audit.list(CLI_ACTOR, { action: 'person.add' });
      assert.ok(
        audit.some((e) => e.actor.kind === 'ldap' && e.target?.name === 'ada@example.test'),
        JSON.stringify(audit),
      );
    });

    test('a second sync with nothing changed changes nothing: no update, no photo handed on, no new Mail version', async () => {
      const branch = await newBranch();
      await branch.add([
        { uid: 'ada', userPrincipalName: 'ada@example.test', displayName: 'Ada', photo: await makePhoto('jpeg', 64, 64) },
        { uid: 'bob', userPrincipalName: 'bob@example.test', displayName: 'Bob' },
      ]);
      const t = await appFor(branch);
      await sync(t);
      const ada = await person(t, 'ada@example.test');
      const etag = await t.services.mail.currentEtag(ada);
      const auditBefore = (await t.services.audit.list(CLI_ACTOR, { limit: 1000 })).length;

      const second = await sync(t);
      assert.deepEqual(second.counts, { created: 0, updated: 0, unchanged: 2, disabled: 0, enabled: 0, skipped: 0, failed: 0 });
      assert.equal(second.photosImported, 0);
      assert.ok(
        second.entries.every((e) => e.photo === null),
        'no photo was handed to the photo policy',
      );
      assert.equal(await photoVersions(t, ada.id), 1);
      assert.equal(await t.services.mail.currentEtag(ada), etag);
      // Only the run itself is audited.
      const newEntries = (await t.services.audit.list(CLI_ACTOR, { limit: 1000 })).slice(0, -auditBefore || undefined);
      assert.deepEqual(
        newEntries.map((e) => e.action),
        ['directory.sync'],
      );
    });

    test('a changed photo is imported once, a renamed person is updated, and both only once', async () => {
      const branch = await newBranch();
      await branch.add([
        {
          uid: 'ada',
          userPrincipalName: 'ada@example.test',
          displayName: 'Ada',
          photo: await makePhoto('jpeg', 64, 64, { color: '#112233' }),
        },
        { uid: 'bob', userPrincipalName: 'bob@example.test', displayName: 'Bob' },
      ]);
      const t = await appFor(branch);
      await sync(t);
      const ada = await person(t, 'ada@example.test');
      await branch.modify('ada', { photo: await makePhoto('jpeg', 64, 64, { color: '#aa4499' }) });
      await branch.modify('bob', { displayName: 'Robert Builder', mail: 'robert@example.test' });

      const changed = await sync(t);
      assert.equal(outcomeOf(changed, 'ada@example.test').photo, 'imported');
      assert.equal(outcomeOf(changed, 'bob@example.test').outcome, 'updated');
      assert.match(outcomeOf(changed, 'bob@example.test').reason ?? '', /display name "Bob" → "Robert Builder"/);
      assert.equal(await photoVersions(t, ada.id), 2);
      const bob = await person(t, 'bob@example.test');
      assert.equal(bob.displayName, 'Robert Builder');
      assert.equal(bob.mail, 'robert@example.test');

      const again = await sync(t);
      assert.equal(again.counts.unchanged, 2);
      assert.equal(again.photosImported, 0);
      assert.equal(await photoVersions(t, ada.id), 2);
    });

    test('a person whose entry vanished is disabled, not removed, and enabled again when the entry comes back', async () => {
      const branch = await newBranch();
      const bobEntry: TestPerson = { uid: 'bob', userPrincipalName: 'bob@example.test', displayName: 'Bob' };
      await branch.add([{ uid: 'ada', userPrincipalName: 'ada@example.test' }, bobEntry]);
      const t = await appFor(branch);
      await sync(t);
      await branch.remove('bob');

      const report = await sync(t);
      assert.equal(outcomeOf(report, 'bob@example.test').outcome, 'disabled');
      assert.match(outcomeOf(report, 'bob@example.test').reason ?? '', /no longer in the directory/);
      const bob = await person(t, 'bob@example.test');
      assert.equal(bob.enabled, false, 'disabled');
      assert.equal((await person(t, 'ada@example.test')).enabled, true);
      const disabling = (await t.services.audit.list(CLI_ACTOR, { action: 'person.disable' })).find(
        (e) => e.target?.name === 'bob@example.test',
      );
      assert.match(disabling?.detail ?? '', /no longer in the LDAP directory/);
      assert.equal((await sync(t)).counts.disabled, 0, 'disabled once');

      // Made again (a new entryUUID), the same person comes back.
      await branch.add([bobEntry]);
      const back = await sync(t);
      assert.equal(outcomeOf(back, 'bob@example.test').outcome, 'enabled');
      assert.equal((await person(t, 'bob@example.test')).id, bob.id);
      assert.equal((await person(t, 'bob@example.test')).enabled, true);
    });

    test("an entry disabled in the directory (attribute rule) disables the person, and enabling it there enables them; an admin's own disabling stays", async () => {
      const branch = await newBranch();
      await branch.add([
        { uid: 'ada', userPrincipalName: 'ada@example.test', status: 'active' },
        { uid: 'eve', userPrincipalName: 'eve@example.test', status: 'disabled' },
        { uid: 'dan', userPrincipalName: 'dan@example.test', status: 'active' },
      ]);
      const t = await appFor(branch);
      const first = await sync(t);
      assert.equal(outcomeOf(first, 'eve@example.test').outcome, 'created');
      assert.equal((await person(t, 'eve@example.test')).enabled, false, 'created disabled');
      // An admin disables Dan here; the directory still has him enabled.
      await t.services.people.disable(CLI_ACTOR, await person(t, 'dan@example.test'), { reason: 'on leave' });

      await branch.modify('ada', { status: 'disabled' });
      const second = await sync(t);
      assert.equal(outcomeOf(second, 'ada@example.test').outcome, 'disabled');
      assert.equal((await person(t, 'ada@example.test')).enabled, false);

      await branch.modify('ada', { status: 'active' });
      await branch.modify('eve', { status: 'active' });
      await branch.modify('dan', { displayName: 'Dan' });
      const third = await sync(t);
      assert.equal(outcomeOf(third, 'ada@example.test').outcome, 'enabled');
      assert.equal(outcomeOf(third, 'eve@example.test').outcome, 'enabled');
      assert.equal((await person(t, 'ada@example.test')).enabled, true);
      assert.equal((await person(t, 'eve@example.test')).enabled, true);
      assert.equal((await person(t, 'dan@example.test')).enabled, false, "the admin's choice stays");
    });

    test('bad entries are skipped with their reasons while the rest are synced', async () => {
      const branch = await newBranch();
      await branch.add([
        { uid: 'good', userPrincipalName: 'good@example.test', displayName: 'Good' },
        { uid: 'noupn', displayName: 'No UPN' },
        { uid: 'long', userPrincipalName: 'long@example.test', displayName: 'L'.repeat(300) },
        { uid: 'ctrl', userPrincipalName: 'ctrl@example.test', displayName: 'Bell\u0007Ringer' },
        { uid: 'notimage', userPrincipalName: 'notimage@example.test', photo: Buffer.from('this is not a photo at all') },
        { uid: 'badupn', userPrincipalName: 'no-at-sign' },
      ]);
      const t = await appFor(branch);
      const report = await sync(t);
      assert.equal(report.error, null);
      assert.equal(outcomeOf(report, 'good@example.test').outcome, 'created');
      const reasons = Object.fromEntries(
        report.entries.filter((e) => e.outcome === 'skipped').map((e) => [e.item.split(',')[0], e.reason]),
      );
      assert.match(reasons['uid=noupn'] ?? '', /has no userPrincipalName/);
      assert.match(reasons['uid=long'] ?? '', /display name is 300 characters long \(at most 256\)/);
      assert.match(reasons['uid=ctrl'] ?? '', /display name "Bell\?Ringer" has control characters/);
      assert.match(reasons['uid=notimage'] ?? '', /thumbnailPhoto \(26 bytes\) is not an image/);
      assert.match(reasons['uid=badupn'] ?? '', /"no-at-sign" does not look like name@domain/);
      assert.equal(report.counts.skipped, 5);
      for (const upn of ['long@example.test', 'ctrl@example.test', 'notimage@example.test'])
        assert.equal(await t.services.directory.findPerson(upn), undefined, `${upn} was not created`);
    });

    test('an unreachable directory and a refused bind fail the run with a clear message, changing nobody', async () => {
      const branch = await newBranch();
      await branch.add([{ uid: 'ada', userPrincipalName: 'ada@example.test' }]);
      const down = await appFor(branch, { LDAP_URL: `ldap://127.0.0.1:${await closedPort()}`, LDAP_TIMEOUT_SECONDS: '5' });
      const unreachable = await sync(down);
      assert.equal(unreachable.status, 'interrupted');
      assert.match(unreachable.error ?? '', /^Cannot reach the LDAP directory at ldap:\/\/127\.0\.0\.1:\d+: the connection was refused/);
      assert.equal(await down.services.directory.findPerson('ada@example.test'), undefined);

      const refused = await appFor(branch, { LDAP_BIND_PASSWORD: 'not the password' });
      const cli = await runPhotosync(['directory', 'sync'], refused.env);
      assert.equal(cli.code, 1);
      assert.match(
        cli.stderr,
        /photosync: The directory sync failed: The LDAP directory at ldap:\/\/127\.0\.0\.1:\d+ refused the bind as cn=admin,dc=example,dc=test: wrong bind DN or password/,
      );
      assert.doesNotMatch(cli.stderr, /at .*\.ts:\d+/, 'no stack');
      assert.equal(await refused.services.directory.findPerson('ada@example.test'), undefined);
      const [run] = await refused.services.directorySync.listRuns(CLI_ACTOR, 1);
      assert.equal(run?.status, 'interrupted');
      const audit = await refused.services.audit.list(CLI_ACTOR, { action: 'directory.sync' });
      assert.match(audit[0]?.detail ?? '', /^failed: The LDAP directory .* refused the bind/);
    });

    test('the bind password may come from a file, read at each run (a rotated secret needs no restart)', async () => {
      const branch = await newBranch();
      await branch.add([{ uid: 'ada', userPrincipalName: 'ada@example.test' }]);
      const secretFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-ldap-secret-')), 'bind-password');
      fs.writeFileSync(secretFile, 'the old password\n');
      const t = await appFor(branch, { LDAP_BIND_PASSWORD: '', LDAP_BIND_PASSWORD_FILE: secretFile });
      assert.match((await sync(t)).error ?? '', /refused the bind/);
      fs.writeFileSync(secretFile, `${ROOT_PASSWORD}\n`);
      const report = await sync(t);
      assert.equal(report.error, null);
      assert.equal(report.counts.created, 1);
      fs.rmSync(path.dirname(secretFile), { recursive: true, force: true });
    });

    test('a dry run changes nothing and says what it would do', async () => {
      const branch = await newBranch();
      await branch.add([
        { uid: 'ada', userPrincipalName: 'ada@example.test', photo: await makePhoto('jpeg', 64, 64) },
        { uid: 'bob', userPrincipalName: 'bob@example.test', status: 'disabled' },
      ]);
      const t = await appFor(branch);
      const report = await sync(t, { dryRun: true });
      assert.equal(report.dryRun, true);
      assert.equal(report.counts.created, 2);
      assert.equal(outcomeOf(report, 'ada@example.test').photo, 'would be offered');
      assert.match(outcomeOf(report, 'bob@example.test').reason ?? '', /would be created disabled/);
      assert.equal(await t.services.directory.findPerson('ada@example.test'), undefined);
      assert.equal((await t.services.database.db.selectFrom('ldap_entries').selectAll().execute()).length, 0);
      assert.deepEqual(
        (await t.services.audit.list(CLI_ACTOR, { limit: 100 })).map((e) => e.action),
        [],
        'not even audited',
      );
      // The real run afterwards does all of it.
      const real = await sync(t);
      assert.equal(real.counts.created, 2);
      assert.equal(real.photosImported, 1);
    });

    test('a directory of 1,000 entries is read in pages smaller than it', async () => {
      const branch = await newBranch();
      await branch.add(
        Array.from({ length: 1000 }, (_, i) => ({
          uid: `p${i}`,
          userPrincipalName: `person${i}@example.test`,
          displayName: `Person ${i}`,
        })),
      );
      const t = await appFor(branch, { LDAP_PAGE_SIZE: '300' });
      const report = await sync(t);
      assert.equal(report.entriesRead, 1000);
      assert.equal(report.pages, 4, 'pages of 300, 300, 300 and 100');
      assert.equal(report.counts.created, 1000);
      const run = await t.services.runs.get(report.runId);
      assert.deepEqual([run?.status, run?.done, run?.total], ['finished', 1000, 1000]);
      assert.equal(
        (await t.services.directory.listPeople({ limit: 2000 })).filter((p) => p.userPrincipalName.startsWith('person')).length,
        1000,
      );
    });

    test('photosync directory sync prints a summary, and --json the report', async () => {
      const branch = await newBranch();
      await branch.add([{ uid: 'ada', userPrincipalName: 'ada@example.test', photo: await makePhoto('jpeg', 64, 64) }, { uid: 'noupn' }]);
      const t = await appFor(branch);
      const dry = await runPhotosync(['directory', 'sync', '--dry-run'], t.env);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(
        dry.stdout,
        /^Dry run \(nothing changed\): 2 entries in 1 pages: created 1, skipped 1; 1 photos would be offered to the photo policy\.$/m,
      );
      assert.match(dry.stdout, /uid=noupn,.*: skipped: it has no userPrincipalName/);

      const text = await runPhotosync(['directory', 'sync'], t.env);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^2 entries in 1 pages: created 1, skipped 1; 1 photos imported\.$/m);
      assert.match(text.stdout, /^Report: \/admin\/runs\/[0-9a-f-]{36}$/m);
      assert.match(text.stderr, /2\/2 done/, 'progress on standard error when piped');

      const json = await runPhotosync(['directory', 'sync', '--json'], t.env);
      assert.equal(json.code, 0, json.stderr);
      const report = JSON.parse(json.stdout) as DirectorySyncReport;
      assert.equal(report.counts.unchanged, 1);
      assert.equal(report.counts.skipped, 1);
      assert.equal(report.photosImported, 0);
      assert.equal(report.status, 'finished');
    });

    test("the photo policy decides what the directory's photos do to Mail: never, and authoritative", async () => {
      const branch = await newBranch();
      const directoryPhoto = await makePhoto('jpeg', 96, 96, { color: '#33bbee' });
      await branch.add([
        { uid: 'ada', userPrincipalName: 'ada@example.test', photo: directoryPhoto },
        { uid: 'carol', userPrincipalName: 'carol@example.test', photo: await makePhoto('jpeg', 96, 96, { color: '#ee7733' }) },
      ]);
      const t = await appFor(branch);
      const carol = await t.services.people.add(CLI_ACTOR, { userPrincipalName: 'carol@example.test' });
      await t.services.mail.setPhoto(CLI_ACTOR, carol, await makePhoto('jpeg', 96, 96, { color: '#009988' }), 'cli');
      const carolOwn = await t.services.mail.currentEtag(carol);

      await t.services.directoryPhotos.setPolicy(CLI_ACTOR, 'ldap', 'never');
      const never = await sync(t);
      assert.equal(outcomeOf(never, 'ada@example.test').photo, 'not-used');
      assert.equal(await t.services.mail.currentEtag(await person(t, 'ada@example.test')), null, 'Mail has no photo');
      assert.equal(await t.services.mail.currentEtag(carol), carolOwn);

      // The policy changes; the directory does not: the photos are not handed on again by themselves.
      await t.services.directoryPhotos.setPolicy(CLI_ACTOR, 'ldap', 'authoritative');
      await branch.modify('ada', { photo: await makePhoto('jpeg', 96, 96, { color: '#bbbbbb' }) });
      await branch.modify('carol', { photo: await makePhoto('jpeg', 96, 96, { color: '#cc3311' }) });
      const authoritative = await sync(t);
      assert.equal(outcomeOf(authoritative, 'ada@example.test').photo, 'imported');
      assert.equal(outcomeOf(authoritative, 'carol@example.test').photo, 'imported', "the directory wins over Carol's own photo");
      assert.notEqual(await t.services.mail.currentEtag(carol), carolOwn);
      assert.equal((await t.services.mail.currentVersion(carol))?.source, 'ldap');
      // The photo leaves the directory: under this policy it leaves Mail too.
      await branch.modify('carol', { photo: undefined });
      const removed = await sync(t);
      assert.equal(outcomeOf(removed, 'carol@example.test').photo, 'removed');
      assert.equal(await t.services.mail.currentEtag(carol), null);
    });

    test("the admin's directory page shows the LDAP settings (never the password) and the last runs; Sync now starts a run whose page has the report", async () => {
      const branch = await newBranch();
      await branch.add([{ uid: 'ada', userPrincipalName: 'ada@example.test' }, { uid: 'noupn' }]);
      const t = await appFor(branch, { LDAP_SYNC_INTERVAL_MINUTES: '30' });
      const admin = await t.services.people.add(CLI_ACTOR, {
        userPrincipalName: 'root@example.test',
        role: 'admin',
        password: 'correct horse battery staple',
      });
      const cookie = await t.signIn(admin.userPrincipalName);
      const page = await t.app.inject({ url: '/admin/directory', headers: { cookie } });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /LDAP directory sync/);
      assert.ok(page.body.includes(slapd.url), 'the URL');
      assert.ok(page.body.includes(branch.baseDn), 'the base DN');
      assert.match(page.body, /every 30 minutes/);
      assert.match(page.body, /photosyncTestStatus is disabled/);
      assert.ok(!page.body.includes(ROOT_PASSWORD), 'never the password');
      assert.match(page.body, /None yet\./);

      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
      const noToken = await t.app.inject({
        method: 'POST',
        url: '/admin/directory/sync',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'mode=sync',
      });
      assert.equal(noToken.statusCode, 403, 'CSRF token required');
      const started = await t.app.inject({
        method: 'POST',
        url: '/admin/directory/sync',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: csrf, mode: 'sync' }).toString(),
      });
      assert.equal(started.statusCode, 303);
      const runPath = String(started.headers.location);
      assert.match(runPath, /^\/admin\/runs\/[0-9a-f-]{36}$/);
      const report = (await t.services.directorySync.findReport(CLI_ACTOR, runPath.split('/').at(-1)!))!;
      await runOutcome(t, report.runId);

      const runPage = await t.app.inject({ url: runPath, headers: { cookie } });
      assert.match(runPage.body, /Directory sync report/);
      assert.match(runPage.body, /ada@example\.test/);
      assert.match(runPage.body, /it has no userPrincipalName/);
      const after = await t.app.inject({ url: '/admin/directory', headers: { cookie } });
      assert.ok(after.body.includes(`href="${runPath}"`), 'the run is listed with a link to its report');
      assert.match(after.body, /Finished: 2 entries, 1 skipped or failed/);
      const audit = await t.services.audit.list(CLI_ACTOR, { action: 'directory.sync' });
      assert.equal(audit[0]?.actor.name, 'root@example.test');
    });

    test('the scheduled sync runs once per interval across processes, and one directory sync runs at a time', async () => {
      const branch = await newBranch();
      await branch.add([{ uid: 'ada', userPrincipalName: 'ada@example.test' }]);
      const t = await appFor(branch, { LDAP_SYNC_INTERVAL_MINUTES: '60' });
      const first = await t.services.directorySync.runIfDue();
      assert.equal(first?.counts.created, 1);
      assert.equal(await t.services.directorySync.runIfDue(), undefined, 'the interval has not passed');

      const running = await t.services.directorySync.start(CLI_ACTOR, { dryRun: true });
      await assert.rejects(
        t.services.directorySync.start(CLI_ACTOR, { dryRun: false }),
        (error: Error) => error.name === 'DirectorySyncAlreadyRunning' && error.message.includes(`/admin/runs/${running.runId}`),
      );
      await running.report;
    });
  });
}

// TLS is between photosync and the directory; one database is enough to prove it.
describe('LDAP directory sync over TLS (ldaps:// and StartTLS) against slapd', { skip: slapdSkipReason ?? false }, () => {
  let slapd: Slapd;
  let branch: DirectoryBranch;
  const apps: TestApp[] = [];
  const appWith = async (extra: Record<string, string>) => {
    const t = await startTestApp('sqlite', ldapEnv(slapd, branch, extra));
    apps.push(t);
    return t;
  };

  before(async () => {
    slapd = await startSlapd({ tls: true });
    branch = await slapd.branch('tls');
    await branch.add([{ uid: 'ada', userPrincipalName: 'ada@example.test' }]);
  });
  after(async () => {
    for (const t of apps) await t.close();
    await slapd?.stop();
  });

  test('ldaps:// with LDAP_CA_FILE syncs; without the CA the run fails saying the certificate is not trusted', async () => {
    const trusted = await appWith({ LDAP_URL: slapd.tls!.ldapsUrl, LDAP_CA_FILE: slapd.tls!.caFile });
    const report = await sync(trusted);
    assert.equal(report.error, null);
    assert.equal(report.counts.created, 1);

    const untrusted = await appWith({ LDAP_URL: slapd.tls!.ldapsUrl });
    const refused = await sync(untrusted);
    assert.match(refused.error ?? '', /has a TLS certificate this server does not trust .*set LDAP_CA_FILE/);
  });

  test('ldap:// with LDAP_STARTTLS upgrades the connection before binding', async () => {
    const t = await appWith({ LDAP_STARTTLS: 'true', LDAP_CA_FILE: slapd.tls!.caFile });
    const report = await sync(t);
    assert.equal(report.error, null);
    assert.equal(report.counts.created, 1);
    const untrusted = await appWith({ LDAP_STARTTLS: 'true' });
    assert.match(
      (await sync(untrusted)).error ?? '',
      /^StartTLS with the LDAP directory at ldap:\/\/127\.0\.0\.1:\d+ failed: .*does not trust/,
    );
  });
});
