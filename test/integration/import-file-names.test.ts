import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { multipart } from '../support/multipart.ts';
import { cookiesOf, startTestApp, type TestApp } from '../support/test-app.ts';

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`web import file names on ${kind}`, { skip }, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(kind);
    });
    after(() => t.close());

    test('a file name too long for the disk (300 bytes) is one file in the report; the import of the rest goes on', async () => {
      const ada = await t.addPerson('ada@contoso.example');
      const grace = await t.addPerson('grace@contoso.example');
      const admin = await t.addPerson('importer@contoso.example', { role: 'admin' });
      const cookie = await t.signIn(admin.userPrincipalName);
      const form = await t.app.inject({ method: 'GET', url: '/admin/import', headers: { cookie } });
      const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
      // Longer than a file name may be on the usual file systems (255 bytes), in ASCII and in UTF-8.
      const mappedLongName = `${'portrait-of-grace-'.repeat(16)}.jpg`;
      const unknownLongName = `${'ü'.repeat(150)}@contoso.example.jpg`;
      assert.ok(Buffer.byteLength(mappedLongName) > 255 && Buffer.byteLength(unknownLongName) > 255);
      const octets = 'application/octet-stream';
      const upload = multipart({ _csrf: csrf }, [
        {
          name: 'photos',
          filename: 'ada@contoso.example.jpg',
          type: octets,
          bytes: await makePhoto('jpeg', 150, 150, { color: '#aa3344' }),
        },
        { name: 'photos', filename: mappedLongName, type: octets, bytes: await makePhoto('jpeg', 160, 160, { color: '#33aa44' }) },
        { name: 'photos', filename: unknownLongName, type: octets, bytes: await makePhoto('jpeg', 170, 170, { color: '#3344aa' }) },
        {
          name: 'map',
          filename: 'map.csv',
          type: octets,
          bytes: Buffer.from(`file,userPrincipalName\n${mappedLongName},grace@contoso.example\n`),
        },
      ]);
      const posted = await t.app.inject({
        method: 'POST',
        url: '/admin/import',
        headers: { cookie: [cookie, cookiesOf(form)].join('; '), 'content-type': upload.contentType },
        payload: upload.payload,
      });
      assert.equal(posted.statusCode, 303, `the import starts: ${posted.statusCode} ${posted.body.slice(0, 300)}`);
      const runUrl = String(posted.headers.location);
      await t.app.inject({ method: 'GET', url: `${runUrl}/events`, headers: { cookie } });
      const page = await t.app.inject({ method: 'GET', url: runUrl, headers: { cookie } });
      assert.match(page.body, /<strong>2<\/strong> Imported/);
      assert.match(page.body, /<strong>1<\/strong> Nobody matches/);
      assert.ok(page.body.includes(unknownLongName), 'the file nobody matched is named in the report');
      assert.equal((await t.services.mail.getPhoto(CLI_ACTOR, ada)).source, 'import');
      assert.equal((await t.services.mail.getPhoto(CLI_ACTOR, grace)).source, 'import', 'the long-named file mapped to Grace is imported');
    });
  });
}
