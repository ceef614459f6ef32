import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import sharp from 'sharp';
import type { Person } from '../../src/directory/index.ts';
import type { DirectoryPhotoPolicy, DirectorySource } from '../../src/directory-photos/index.ts';
import { CLI_ACTOR, type Actor } from '../../src/identity/index.ts';
import { photoContentEtag } from '../../src/mail/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { multipart } from '../support/multipart.ts';
import { bearer, cookiesOf, startTestApp, type TestApp } from '../support/test-app.ts';

const photo = (color: string, side = 200) => makePhoto('jpeg', side, side, { color, marker: color });
const csrfTokenIn = (page: LightMyRequestResponse) => /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
const asPerson = (person: Person): Actor => ({ kind: 'person', person, via: 'session', sessionKey: 'test' });
const MANAGED = /managed by the organization(&#39;|')s directory/;

type MailState = 'no Mail photo' | 'own Mail photo' | 'Mail photo from the directory';

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`photos from the directory, per the policy of their source, on ${kind}`, { skip }, () => {
    let t: TestApp;
    let counter = 0;
    let person: Person;
    let red: Buffer, green: Buffer, blue: Buffer;

    before(async () => {
      t = await startTestApp(kind);
      [red, green, blue] = await Promise.all([photo('#d01010'), photo('#10c020'), photo('#1020d0')]);
    });
    after(() => t.close());
    beforeEach(async () => {
      person = await t.addPerson(`person${++counter}@contoso.example`);
      await setPolicy('ldap', 'fill-when-empty');
      await setPolicy('oidc', 'fill-when-empty');
    });

    const setPolicy = (source: DirectorySource, policy: DirectoryPhotoPolicy) =>
      t.services.directoryPhotos.setPolicy(CLI_ACTOR, source, policy);
    const mailNow = (who: Person) => t.services.mail.currentVersion(who);
    /** The person's own Graph upload, with their bearer token's headers. */
    const putMyPhoto = (token: Record<string, string>, photo: Buffer) =>
      t.app.inject({ method: 'PUT', url: '/v1.0/me/photo/$value', headers: { ...token, 'content-type': 'image/jpeg' }, payload: photo });
    const versionCount = async (who: Person) =>
      Number(
        (
          await t.services.database.db
            .selectFrom('photo_versions')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('person_id', '=', who.id)
            .executeTakeFirstOrThrow()
        ).n,
      );
    const storedDirectoryPhoto = async (who: Person) =>
      (await t.services.database.db.selectFrom('people').select('directory_photo').where('id', '=', who.id).executeTakeFirstOrThrow())
        .directory_photo;
    const auditOf = (who: Person) => t.services.audit.list(CLI_ACTOR, { person: who.userPrincipalName, limit: 1000 });

    const arrange = async (state: MailState, source: DirectorySource) => {
      if (state === 'own Mail photo') await t.services.mail.setPhoto(asPerson(person), person, blue, 'page');
      if (state === 'Mail photo from the directory')
        assert.equal((await t.services.directoryPhotos.receive(person, blue, source)).outcome, 'imported');
    };

    const newPhotoCases: [DirectoryPhotoPolicy, MailState, string, 'new' | 'before' | 'none'][] = [
      ['never', 'no Mail photo', 'not-used', 'none'],
      ['never', 'own Mail photo', 'not-used', 'before'],
      ['never', 'Mail photo from the directory', 'not-used', 'before'],
      ['fill-when-empty', 'no Mail photo', 'imported', 'new'],
      ['fill-when-empty', 'own Mail photo', 'kept-own-photo', 'before'],
      ['fill-when-empty', 'Mail photo from the directory', 'imported', 'new'],
      ['authoritative', 'no Mail photo', 'imported', 'new'],
      ['authoritative', 'own Mail photo', 'imported', 'new'],
      ['authoritative', 'Mail photo from the directory', 'imported', 'new'],
    ];
    for (const [policy, state, outcome, mailAfter] of newPhotoCases) {
      test(`a new directory photo under "${policy}" with ${state}: ${outcome}`, async () => {
        await arrange(state, 'ldap');
        const before = await mailNow(person);
        await setPolicy('ldap', policy);
        const result = await t.services.directoryPhotos.receive(person, red, 'ldap');
        assert.equal(result.outcome, outcome, result.reason);
        const now = await mailNow(person);
        if (mailAfter === 'new') {
          assert.equal(now?.etag, photoContentEtag(red));
          assert.equal(now?.source, 'ldap', 'the version history names the source');
        } else if (mailAfter === 'before') {
          assert.equal(now?.etag, before?.etag, 'Mail keeps its photo');
        } else {
          assert.equal(now, undefined, 'Mail still has no photo');
        }
        assert.deepEqual(await storedDirectoryPhoto(person), red, "kept as the person's directory photo whatever the policy");
      });
    }

    const noPhotoCases: [DirectoryPhotoPolicy, MailState, string, boolean][] = [
      ['never', 'Mail photo from the directory', 'not-used', true],
      ['fill-when-empty', 'own Mail photo', 'kept-own-photo', true],
      ['fill-when-empty', 'Mail photo from the directory', 'removed', false],
      ['authoritative', 'own Mail photo', 'removed', false],
      ['authoritative', 'Mail photo from the directory', 'removed', false],
    ];
    for (const [policy, state, outcome, kept] of noPhotoCases) {
      test(`a directory with no photo under "${policy}" with ${state}: ${outcome}`, async () => {
        await arrange(state, 'oidc');
        await setPolicy('oidc', policy);
        const result = await t.services.directoryPhotos.receive(person, null, 'oidc');
        assert.equal(result.outcome, outcome, result.reason);
        assert.equal((await mailNow(person)) !== undefined, kept);
        assert.equal(await storedDirectoryPhoto(person), null);
      });
    }

    test('an unchanged directory photo is not imported again: no new version, no audit entry', async () => {
      assert.equal((await t.services.directoryPhotos.receive(person, red, 'oidc')).outcome, 'imported');
      const versions = await versionCount(person);
      const entries = (await auditOf(person)).length;
      for (let i = 0; i < 3; i++)
        assert.equal((await t.services.directoryPhotos.receive(person, Buffer.from(red), 'oidc')).outcome, 'unchanged');
      assert.equal(await versionCount(person), versions);
      assert.equal((await auditOf(person)).length, entries);

      await setPolicy('oidc', 'never');
      assert.equal((await t.services.directoryPhotos.receive(person, green, 'oidc')).outcome, 'not-used');
      const afterNotUsed = (await auditOf(person)).length;
      assert.equal(
        (await t.services.directoryPhotos.receive(person, green, 'oidc')).outcome,
        'unchanged',
        'a photo Mail did not take is not reported again',
      );
      assert.equal((await auditOf(person)).length, afterNotUsed);
    });

    test('every import is audited with its source as the actor', async () => {
      await t.services.directoryPhotos.receive(person, red, 'ldap');
      const [entry] = (await auditOf(person)).filter((e) => e.action === 'photo.set');
      assert.equal(entry?.actor.kind, 'ldap');
      assert.match(entry!.detail!, /from ldap/);
      await setPolicy('ldap', 'never');
      await t.services.directoryPhotos.receive(person, green, 'ldap');
      const [notUsed] = (await auditOf(person)).filter((e) => e.action === 'directory.photo');
      assert.equal(notUsed?.actor.kind, 'ldap');
      assert.match(notUsed!.detail!, /policy never/);
    });

    test('a photo the person removed is not filled in again until the directory has a new one', async () => {
      await t.services.directoryPhotos.receive(person, red, 'ldap');
      await t.services.mail.removePhoto(asPerson(person), person);
      assert.equal((await t.services.directoryPhotos.receive(person, red, 'ldap')).outcome, 'unchanged');
      assert.equal(await mailNow(person), undefined);
      assert.equal((await t.services.directoryPhotos.receive(person, green, 'ldap')).outcome, 'imported');
    });

    test('a large sign-in picture is kept as a directory photo of at most 100 KB', async () => {
      // Noise does not compress: a 600×600 PNG of it is about 1 MB.
      const noisy = await sharp(randomBytes(600 * 600 * 3), { raw: { width: 600, height: 600, channels: 3 } })
        .png()
        .toBuffer();
      assert.ok(noisy.length > 100 * 1024, `the test picture is larger than 100 KB (${noisy.length})`);
      assert.equal((await t.services.directoryPhotos.receive(person, noisy, 'oidc')).outcome, 'imported');
      const stored = (await storedDirectoryPhoto(person))!;
      assert.ok(stored.length <= 100 * 1024);
      assert.deepEqual(
        await sharp(stored)
          .metadata()
          .then((m) => [m.format, m.width, m.height]),
        ['jpeg', 240, 240],
      );
      assert.equal((await mailNow(person))?.etag, photoContentEtag(noisy), 'Mail has the picture itself');
    });

    test('bytes that are not an image are refused and change nothing', async () => {
      await assert.rejects(t.services.directoryPhotos.receive(person, Buffer.from('<html>not a picture</html>'), 'oidc'), {
        code: 'InvalidImage',
      });
      assert.equal(await mailNow(person), undefined);
      assert.equal(await storedDirectoryPhoto(person), null);
      assert.equal((await t.services.directoryPhotos.receive(person, red, 'oidc')).outcome, 'imported', 'the next good photo is taken');
    });

    test('under "authoritative" the person\'s own change is refused over HTTP, saying where to change it', async () => {
      await setPolicy('ldap', 'authoritative');
      await t.services.directoryPhotos.receive(person, red, 'ldap');
      const cookie = await t.signIn(person.userPrincipalName);
      const page = await t.app.inject({ method: 'GET', url: '/mail/photo', headers: { cookie } });
      const form = multipart({ _csrf: csrfTokenIn(page) }, { name: 'photo', filename: 'me.jpg', type: 'image/jpeg', bytes: green });
      const upload = await t.app.inject({
        method: 'POST',
        url: '/mail/photo',
        headers: { cookie: `${cookie}; ${cookiesOf(page)}`, 'content-type': form.contentType },
        payload: form.payload,
      });
      assert.equal(upload.statusCode, 403);
      assert.match(upload.body, /Your photo is managed by the organization(&#39;|')s directory/);
      assert.match(upload.body, /Change it in the organization(&#39;|')s directory/);
      assert.match(
        page.body,
        /role="status">Your photo is managed by the organization(&#39;|')s directory/,
        'the Mail page says so before anyone tries',
      );
      assert.doesNotMatch(page.body, /id="photo-form"/, 'and offers no upload form');

      const token = bearer(await t.tokenFor(person));
      const put = await putMyPhoto(token, green);
      assert.equal(put.statusCode, 403);
      assert.equal(put.json().error.code, 'PhotoManagedByDirectory');
      const del = await t.app.inject({ method: 'DELETE', url: '/v1.0/me/photo', headers: token });
      assert.equal(del.statusCode, 403);
      const sharePoint = await t.app.inject({
        method: 'POST',
        url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
        headers: { ...token, 'content-type': 'application/octet-stream' },
        payload: green,
      });
      assert.equal(sharePoint.statusCode, 403);
      assert.match(sharePoint.body, MANAGED, 'SetMyProfilePicture too');
      await assert.rejects(t.services.mail.setPhoto(CLI_ACTOR, person, green, 'cli'), MANAGED, 'the CLI (and an admin, an import) too');
      assert.equal((await mailNow(person))?.etag, photoContentEtag(red), 'Mail still follows the directory');

      assert.equal((await t.services.directoryPhotos.receive(person, green, 'ldap')).outcome, 'imported', 'the directory itself still may');
      await setPolicy('ldap', 'fill-when-empty');
      const again = await putMyPhoto(token, blue);
      assert.equal(again.statusCode, 200, 'with the policy changed back, the person may choose their own');
    });

    test('under "authoritative" an admin\'s import leaves a managed photo alone and says why, in the dry run too', async () => {
      await setPolicy('oidc', 'authoritative');
      await t.services.directoryPhotos.receive(person, red, 'oidc');
      const files = [{ name: `${person.userPrincipalName}.jpg`, read: async () => green }];
      for (const dryRun of [true, false]) {
        const { report } = await t.services.photoImporter.start(CLI_ACTOR, files, { dryRun });
        const [result] = (await report).files;
        assert.equal(result?.outcome, 'bad-image', `dry run: ${dryRun}`);
        assert.match(result!.reason!, MANAGED);
      }
      assert.equal((await mailNow(person))?.etag, photoContentEtag(red));
    });

    test('a person the directory does not manage keeps changing their own photo under "authoritative"', async () => {
      await setPolicy('ldap', 'authoritative');
      await setPolicy('oidc', 'authoritative');
      const token = bearer(await t.tokenFor(person));
      const put = await putMyPhoto(token, green);
      assert.equal(put.statusCode, 200);
    });

    test('another source cannot change a photo an authoritative source manages', async () => {
      await setPolicy('ldap', 'authoritative');
      await t.services.directoryPhotos.receive(person, red, 'ldap');
      const result = await t.services.directoryPhotos.receive(person, green, 'oidc');
      assert.equal(result.outcome, 'kept-own-photo', 'for OIDC under "fill when empty", the LDAP photo is not its own');
      await setPolicy('oidc', 'authoritative');
      const forced = await t.services.directoryPhotos.receive(person, blue, 'oidc');
      assert.equal(forced.outcome, 'not-used');
      assert.match(forced.reason!, /LDAP directory/);
      assert.equal((await mailNow(person))?.etag, photoContentEtag(red));
    });

    test('Sites shows only what Mail synced, never the directory photo', async () => {
      await setPolicy('oidc', 'never');
      await t.services.directoryPhotos.receive(person, red, 'oidc');
      await t.services.syncAdmin.syncPerson(CLI_ACTOR, person);
      const viewer = bearer(await t.tokenFor(person));
      const sites = () =>
        t.app.inject({
          method: 'GET',
          url: `/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(person.userPrincipalName)}`,
          headers: viewer,
        });
      assert.match((await sites()).headers.etag as string, /^"placeholder-/, 'the directory photo alone never reaches Sites');

      await setPolicy('oidc', 'fill-when-empty');
      await t.services.directoryPhotos.receive(person, green, 'oidc');
      assert.doesNotMatch((await sites()).headers.etag as string, new RegExp(photoContentEtag(green)), 'not before the sync');
      await t.services.syncAdmin.syncPerson(CLI_ACTOR, person);
      const state = await t.services.syncAdmin.personStatus(CLI_ACTOR, person);
      assert.equal(state.state.syncedEtag, photoContentEtag(green), 'Sites has what Mail had when it synced');
      assert.doesNotMatch((await sites()).headers.etag as string, /^"placeholder-/);
    });

    test('only an admin changes a policy, on the Directory page with its form; the change is audited', async () => {
      const user = await t.addPerson(`user${counter}@contoso.example`);
      await assert.rejects(t.services.directoryPhotos.setPolicy(asPerson(user), 'ldap', 'never'), {
        code: 'Authorization_RequestDenied',
        message: /Only an admin/,
      });
      const admin = await t.addPerson(`admin${counter}@contoso.example`, { role: 'admin' });
      const cookie = await t.signIn(admin.userPrincipalName);
      const page = await t.app.inject({ method: 'GET', url: '/admin/directory', headers: { cookie } });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /value="fill-when-empty" checked/);
      const saved = await t.app.inject({
        method: 'POST',
        url: '/admin/directory/photo-policy',
        headers: { cookie: `${cookie}; ${cookiesOf(page)}` },
        payload: { _csrf: csrfTokenIn(page), source: 'ldap', policy: 'authoritative' },
      });
      assert.equal(saved.statusCode, 303);
      assert.equal(await t.services.directoryPhotos.policy('ldap'), 'authoritative');
      const [entry] = await t.services.audit.list(CLI_ACTOR, { action: 'directory.photo-policy', limit: 1 });
      assert.equal(entry?.actor.name, admin.userPrincipalName);
      assert.match(entry!.detail!, /ldap: fill-when-empty → authoritative/);
      const bad = await t.app.inject({
        method: 'POST',
        url: '/admin/directory/photo-policy',
        headers: { cookie: `${cookie}; ${cookiesOf(page)}` },
        payload: { _csrf: csrfTokenIn(page), source: 'ldap', policy: 'sometimes' },
      });
      assert.equal(bad.statusCode, 400);
      assert.equal(await t.services.directoryPhotos.policy('ldap'), 'authoritative', 'nothing changed');
    });
  });
}
