import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { multipart } from '../support/multipart.ts';
import { runPhotosync } from '../support/run-cli.ts';
import { snapshotPhotoTables } from '../support/sync-fixtures.ts';
import { cookiesOf, startTestApp, type TestApp } from '../support/test-app.ts';

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`bulk photo import on ${kind}`, { skip }, () => {
    let t: TestApp;
    let dir: string;
    let ada: Person;
    let grace: Person;
    let alan: Person;
    let adaBefore: Buffer;
    const cli = (args: string[]) => runPhotosync(args, t.env);
    const largest = async (who: Person) => (await t.services.mail.getRendition(CLI_ACTOR, who, undefined, { fresh: true })).bytes;

    before(async () => {
      t = await startTestApp(kind);
      ada = await t.addPerson('ada@contoso.example');
      grace = await t.services.directory.addPerson({ userPrincipalName: 'ghopper@contoso.example', mail: 'grace.hopper@contoso.example' });
      alan = await t.addPerson('alan@contoso.example');
      await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 300, 300, { color: '#aa0000' }), 'cli');
      adaBefore = await largest(ada);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-import-'));
      fs.writeFileSync(path.join(dir, 'ada@contoso.example.jpg'), Buffer.from('JFIF but not really a JPEG'));
      fs.writeFileSync(path.join(dir, 'grace.hopper@contoso.example.png'), await makePhoto('png', 260, 260, { color: '#00aa00' }));
      fs.writeFileSync(path.join(dir, 'IMG_0042.jpg'), await makePhoto('jpeg', 400, 300, { color: '#0000aa' }));
      fs.writeFileSync(path.join(dir, 'nobody@contoso.example.jpg'), await makePhoto('jpeg', 100, 100));
      fs.writeFileSync(path.join(dir, '.DS_Store'), 'ignored');
      fs.writeFileSync(
        path.join(dir, 'users.csv'),
        [
          'file,userPrincipalName',
          'IMG_0042.jpg,alan@contoso.example',
          'IMG_0099.jpg,',
          'img_0042.JPG,ada@contoso.example',
          'missing.jpg,ada@contoso.example',
          '"quoted, name.jpg",ghost@contoso.example',
        ].join('\n'),
      );
    });
    after(async () => {
      await t.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('a dry run validates everything and changes nothing', async () => {
      const before = await snapshotPhotoTables(t);
      const run = await cli(['photos', 'import', '--dir', dir, '--map', path.join(dir, 'users.csv'), '--dry-run', '--json']);
      const report = JSON.parse(run.stdout);
      assert.equal(report.dryRun, true);
      assert.deepEqual(report.counts, { imported: 0, unchanged: 0, 'would-import': 2, 'unknown-person': 1, 'bad-image': 1 });
      assert.equal(await snapshotPhotoTables(t), before, 'the database is the same, row for row');
      assert.equal(run.code, 1, 'bad files make the exit code 1');
    });

    test('each file gets a result; a bad file never stops the run nor damages the photo it names', async () => {
      const run = await cli(['photos', 'import', '--dir', dir, '--map', path.join(dir, 'users.csv'), '--json']);
      assert.equal(run.code, 1);
      const report = JSON.parse(run.stdout);
      const byFile = Object.fromEntries(report.files.map((f: { file: string }) => [f.file, f]));
      assert.deepEqual(Object.keys(byFile).sort(), [
        'IMG_0042.jpg',
        'ada@contoso.example.jpg',
        'grace.hopper@contoso.example.png',
        'nobody@contoso.example.jpg',
      ]);
      assert.equal(byFile['IMG_0042.jpg'].outcome, 'imported');
      assert.equal(byFile['IMG_0042.jpg'].userPrincipalName, 'alan@contoso.example', 'matched by the CSV');
      assert.equal(byFile['grace.hopper@contoso.example.png'].outcome, 'imported');
      assert.equal(byFile['grace.hopper@contoso.example.png'].userPrincipalName, 'ghopper@contoso.example', 'matched by mail');
      assert.equal(byFile['nobody@contoso.example.jpg'].outcome, 'unknown-person');
      assert.equal(byFile['ada@contoso.example.jpg'].outcome, 'bad-image');
      assert.match(byFile['ada@contoso.example.jpg'].reason, /JPEG|PNG|image/);
      assert.deepEqual(await largest(ada), adaBefore, "Ada's photo is intact, byte for byte");
      assert.equal((await t.services.mail.getPhoto(CLI_ACTOR, grace)).source, 'import');
      assert.equal((await t.services.mail.getPhoto(CLI_ACTOR, alan)).width, 240, '400×300 → the 240 size');
    });

    test('a CSV with bad rows reports each by its line number', async () => {
      const run = await cli(['photos', 'import', '--dir', dir, '--map', path.join(dir, 'users.csv')]);
      assert.match(run.stdout, /users\.csv line 3: needs both a file and a userPrincipalName/);
      assert.match(run.stdout, /users\.csv line 4: img_0042\.JPG is already mapped on line 2/);
      assert.match(run.stdout, /users\.csv line 5: missing\.jpg is not among the files/);
      assert.match(run.stdout, /users\.csv line 6: quoted, name\.jpg is not among the files/);
      const noHeader = path.join(dir, 'noheader.csv');
      fs.writeFileSync(noHeader, 'IMG_0042.jpg,alan@contoso.example\n');
      const refused = await cli(['photos', 'import', '--dir', dir, '--map', noHeader]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /header row with the columns file and userPrincipalName/);
    });

    test('import is idempotent: the second run finds everything unchanged', async () => {
      const before = await snapshotPhotoTables(t);
      const run = await cli(['photos', 'import', '--dir', dir, '--map', path.join(dir, 'users.csv'), '--json']);
      const report = JSON.parse(run.stdout);
      assert.equal(report.counts.imported, 0);
      assert.equal(report.counts.unchanged, 2);
      const after = await snapshotPhotoTables(t);
      const withoutAudit = (s: string) => s.replace(/audit_log:[\s\S]*$/, '');
      assert.equal(withoutAudit(after), withoutAudit(before), 'no photo row changed (only the audit log has the run)');
    });

    test('usage errors exit 2 with a clear message', async () => {
      for (const [args, message] of [
        [['photos', 'import'], /--dir/],
        [['photos', 'import', '--dir', path.join(dir, 'nope')], /no folder/],
        [['photos', 'import', '--dir', dir, '--map', path.join(dir, 'nope.csv')], /no file/],
      ] as const) {
        const run = await cli([...args]);
        assert.equal(run.code, 2, args.join(' '));
        assert.match(run.stderr, message);
      }
    });

    test('the admin import page takes many files and a CSV, and shows the report', async () => {
      const admin = await t.addPerson('importer@contoso.example', { role: 'admin' });
      const cookie = await t.signIn(admin.userPrincipalName);
      const form = await t.app.inject({ method: 'GET', url: '/admin/import', headers: { cookie } });
      assert.equal(form.statusCode, 200);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
      const octets = 'application/octet-stream';
      const upload = multipart({ _csrf: csrf }, [
        { name: 'photos', filename: 'portrait.jpg', type: octets, bytes: await makePhoto('jpeg', 150, 150, { color: '#123456' }) },
        { name: 'photos', filename: 'importer@contoso.example.jpg', type: octets, bytes: Buffer.from('<svg onload="alert(1)"/>') },
        {
          name: 'map',
          filename: 'map.csv',
          type: octets,
          bytes: Buffer.from('file,userPrincipalName\nportrait.jpg,importer@contoso.example\n'),
        },
      ]);
      const posted = await t.app.inject({
        method: 'POST',
        url: '/admin/import',
        headers: { cookie: [cookie, cookiesOf(form)].join('; '), 'content-type': upload.contentType },
        payload: upload.payload,
      });
      assert.equal(posted.statusCode, 303, posted.body);
      const runUrl = posted.headers.location as string;
      await t.app.inject({ method: 'GET', url: `${runUrl}/events`, headers: { cookie } });
      const page = await t.app.inject({ method: 'GET', url: runUrl, headers: { cookie } });
      assert.match(page.body, /Import report/);
      assert.match(page.body, /<strong>1<\/strong> Imported/);
      assert.match(page.body, /<strong>1<\/strong> Not a usable photo/);
      assert.match(page.body, /&lt;svg|not a JPEG|JPEG or PNG/, 'the reason is shown, escaped');
      assert.equal((await t.services.mail.getPhoto(CLI_ACTOR, admin)).source, 'import');
    });
  });
}
