import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Person } from '../../src/directory/index.ts';
import { ImageTooLarge, InvalidInput, NotPermitted } from '../../src/errors.ts';
import { CLI_ACTOR, type Actor } from '../../src/identity/index.ts';
import { makeBmp } from '../support/bmp.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto, pixelAt } from '../support/images.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

type KeyValue = { Key: string; Value: string; ValueType: string };

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`the SharePoint profile API on ${kind}`, { skip }, () => {
    let t: TestApp;
    let ada: Person;
    let grace: Person;
    let adaToken: string;
    let graceToken: string;

    before(async () => {
      t = await startTestApp(kind);
      ada = await t.addPerson('ada.lovelace@contoso.example');
      grace = await t.addPerson('grace@contoso.example');
      [adaToken, graceToken] = await Promise.all([t.tokenFor(ada), t.tokenFor(grace)]);
      await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 700, 700), 'cli');
      await t.services.sync.syncProfilePhoto(ada, 'admin');
    });
    after(() => t.close());

    const api = (url: string, token: string, accept = 'application/json;odata=nometadata') =>
      t.app.inject({ method: 'GET', url, headers: { ...bearer(token), accept } });
    const property = (list: KeyValue[], key: string) => list.find((p) => p.Key === key)?.Value;

    test('GetMyProperties returns PictureUrl and the picture properties as Key/Value pairs', async () => {
      const response = await api('/_api/SP.UserProfiles.PeopleManager/GetMyProperties', adaToken);
      assert.equal(response.statusCode, 200);
      assert.match(response.headers['content-type'] as string, /^application\/json;odata=nometadata/);
      const body = response.json();
      assert.equal(body.AccountName, 'i:0#.f|membership|ada.lovelace@contoso.example');
      assert.equal(body.PictureUrl, 'http://photosync.test/User%20Photos/Profile%20Pictures/ada_lovelace_contoso_example_MThumb.jpg');
      const props = body.UserProfileProperties as KeyValue[];
      assert.equal(property(props, 'PictureURL'), body.PictureUrl);
      assert.equal(property(props, 'SPS-PicturePlaceholderState'), '0');
      assert.equal(property(props, 'SPS-PictureExchangeSyncState'), '1');
      assert.match(property(props, 'SPS-PictureTimestamp') ?? '', /^\d{10}$/);
      assert.ok(props.every((p) => p.ValueType === 'Edm.String'));
    });

    test('the PictureUrl serves the M thumbnail', async () => {
      const url = new URL((await api('/_api/SP.UserProfiles.PeopleManager/GetMyProperties', adaToken)).json().PictureUrl);
      const image = await t.app.inject({ method: 'GET', url: url.pathname, headers: bearer(adaToken) });
      assert.equal(image.statusCode, 200);
      assert.equal(image.headers['content-type'], 'image/jpeg');
    });

    test("PersonalUrl and UserUrl lead to the person's profile page in Sites", async () => {
      const v = encodeURIComponent("'i:0#.f|membership|ada.lovelace@contoso.example'");
      const body = (await api(`/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v=${v}`, graceToken)).json();
      assert.equal(body.PersonalUrl, 'http://photosync.test/sites/people/ada.lovelace%40contoso.example');
      assert.equal(body.UserUrl, body.PersonalUrl);
      const page = await t.app.inject({
        method: 'GET',
        url: new URL(body.PersonalUrl).pathname,
        headers: { cookie: await t.signIn(grace.userPrincipalName) },
      });
      assert.equal(page.statusCode, 200);
      assert.match(page.headers['content-type'] as string, /^text\/html/);
      assert.match(page.body, /ada\.lovelace@contoso\.example/);
    });

    test('odata=verbose wraps the answer in d with results arrays', async () => {
      const body = (await api('/_api/SP.UserProfiles.PeopleManager/GetMyProperties', graceToken, 'application/json;odata=verbose')).json();
      assert.equal(body.d.__metadata.type, 'SP.UserProfiles.PersonProperties');
      assert.equal(body.d.PictureUrl, null, 'no synced photo: no PictureUrl');
      const props = body.d.UserProfileProperties.results as (KeyValue & { __metadata: { type: string } })[];
      assert.equal(props[0]?.__metadata.type, 'SP.KeyValue');
      assert.equal(property(props, 'SPS-PicturePlaceholderState'), '1');
    });

    test('GetPropertiesFor takes the account name as @v, in any case, with or without accountName=', async () => {
      const v = encodeURIComponent("'i:0#.f|membership|ada.lovelace@contoso.example'");
      for (const path of [
        `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v=${v}`,
        `/_api/sp.userprofiles.peoplemanager/getpropertiesfor(@v)?@v=${v}`,
        `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName='ada.lovelace%40contoso.example')`,
      ]) {
        const response = await api(path, graceToken);
        assert.equal(response.statusCode, 200, path);
        assert.equal(response.json().DisplayName, 'Ada Lovelace', path);
      }
    });

    test('GetPropertiesFor with an unknown or missing account name is a clear 4xx', async () => {
      const unknown = await api(
        `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v='nobody@contoso.example'`,
        graceToken,
      );
      assert.equal(unknown.statusCode, 404);
      const missing = await api('/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)', graceToken);
      assert.equal(missing.statusCode, 400);
      assert.match(missing.json().error.message, /Name the person/);
    });

    test('the profile API needs a signed-in person or a token', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/_api/SP.UserProfiles.PeopleManager/GetMyProperties' });
      assert.equal(response.statusCode, 401);
    });

    test('SetMyProfilePicture writes the photo to Mail, then Sites shows it', async () => {
      const png = await makePhoto('png', 400, 400, { color: '#20a040', marker: '#20a040' });
      const response = await t.app.inject({
        method: 'POST',
        url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
        headers: { ...bearer(graceToken), 'content-type': 'application/json;charset=utf-8' },
        payload: png,
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal((await t.services.mail.getPhoto(CLI_ACTOR, grace)).source, 'sites', 'Mail holds it');
      const shown = await t.app.inject({
        method: 'GET',
        url: `/_layouts/15/userphoto.aspx?size=M&accountname=${grace.userPrincipalName}`,
        headers: bearer(graceToken),
      });
      const [r, g] = await pixelAt(shown.rawPayload, 36, 36);
      assert.ok(g > 130 && r < 80, `Sites shows the new photo (got r=${r}, g=${g})`);
    });

    test('SetMyProfilePicture takes BMP, bottom-up and top-down, the right way up', async () => {
      // Top half red, bottom half blue: a flipped decode would show blue on top.
      const pixel = (_x: number, y: number): [number, number, number] => (y < 100 ? [220, 20, 20] : [20, 20, 220]);
      for (const topDown of [false, true]) {
        const bmp = makeBmp(200, 200, pixel, { topDown });
        const response = await t.app.inject({
          method: 'POST',
          url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
          headers: bearer(graceToken),
          payload: bmp,
        });
        assert.equal(response.statusCode, 200, response.body);
        const mail = await t.services.mail.getRendition(CLI_ACTOR, grace, 120, { fresh: true });
        const [topR, , topB] = await pixelAt(mail.bytes, 60, 10);
        const [bottomR, , bottomB] = await pixelAt(mail.bytes, 60, 110);
        assert.ok(topR > 180 && topB < 60, `top is red (${topDown ? 'top-down' : 'bottom-up'})`);
        assert.ok(bottomB > 180 && bottomR < 60, `bottom is blue (${topDown ? 'top-down' : 'bottom-up'})`);
      }
    });

    test('SetMyProfilePicture refuses other formats and bodies over 5,000,000 bytes, keeping the photo', async () => {
      const before = await t.services.mail.getPhoto(CLI_ACTOR, grace, { fresh: true });
      const post = (payload: Buffer) =>
        t.app.inject({
          method: 'POST',
          url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
          headers: bearer(graceToken),
          payload,
        });
      const gif = await post(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'));
      assert.equal(gif.statusCode, 415);
      const broken = await post(makeBmp(100, 100, () => [1, 2, 3]).subarray(0, 3000));
      assert.equal(broken.statusCode, 400);
      assert.match(broken.json().error.message, /BMP/);
      const huge = await post(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(5_000_001)]));
      assert.equal(huge.statusCode, 413);
      assert.equal((await t.services.mail.getPhoto(CLI_ACTOR, grace, { fresh: true })).etag, before.etag);
    });

    test("SetMyProfilePicture's rules are the Sites service's: a person, X-RequestDigest from a browser, at most 5,000,000 bytes", async () => {
      const sites = t.services.sites;
      const before = await t.services.mail.getPhoto(CLI_ACTOR, grace, { fresh: true });
      const png = await makePhoto('png', 200, 200, { color: '#a02040' });
      const session: Actor = { kind: 'person', person: grace, via: 'session', sessionKey: 'test' };
      const refusedWith = (ErrorClass: new (...args: never[]) => Error, message: RegExp) => (error: unknown) =>
        error instanceof ErrorClass && message.test(error.message);
      assert.throws(
        () => sites.assertMaySetProfilePicture(CLI_ACTOR, { requestDigest: 'x' }),
        refusedWith(InvalidInput, /A person must be signed in/),
      );
      assert.throws(
        () => sites.assertMaySetProfilePicture(session, { requestDigest: undefined }),
        refusedWith(NotPermitted, /X-RequestDigest/),
      );
      await assert.rejects(sites.setMyProfilePicture(session, { requestDigest: '' }, png), refusedWith(NotPermitted, /X-RequestDigest/));
      await assert.rejects(
        sites.setMyProfilePicture(session, { requestDigest: 'x' }, Buffer.alloc(5_000_001)),
        refusedWith(ImageTooLarge, /5,000,000 bytes/),
      );
      assert.equal((await t.services.mail.getPhoto(CLI_ACTOR, grace, { fresh: true })).etag, before.etag, 'nothing stored');

      await sites.setMyProfilePicture(session, { requestDigest: 'x' }, png);
      const stored = await t.services.mail.getPhoto(CLI_ACTOR, grace, { fresh: true });
      assert.equal(stored.source, 'sites', 'the picture went to Mail');
      assert.equal((await sites.getProfile(grace.id))?.syncedEtag, stored.etag, 'and Sites shows it once the call returns');
    });

    test('an unknown SharePoint API is a 404 in the error body', async () => {
      const response = await api('/_api/web/lists', adaToken);
      assert.equal(response.statusCode, 404);
      assert.ok(response.json().error.code);
    });
  });
}
