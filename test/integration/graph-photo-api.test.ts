import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { Person } from '../../src/directory/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`Graph photo API on ${kind}`, { skip }, () => {
    let t: TestApp;
    let ada: Person;
    let grace: Person;
    let adaToken: string;
    let graceToken: string;
    let adminToken: string;
    let photo: Buffer;

    before(async () => {
      t = await startTestApp(kind);
      ada = await t.addPerson('ada@contoso.example');
      grace = await t.addPerson('grace@contoso.example');
      const admin = await t.addPerson('admin@contoso.example', { role: 'admin' });
      [adaToken, graceToken, adminToken] = await Promise.all([t.tokenFor(ada), t.tokenFor(grace), t.tokenFor(admin)]);
      photo = await makePhoto('jpeg', 1000, 800);
    });
    after(() => t.close());

    const put = (url: string, token: string, body: Buffer, contentType = 'image/jpeg') =>
      t.app.inject({ method: 'PUT', url, headers: { ...bearer(token), 'content-type': contentType }, payload: body });
    const get = (url: string, token: string, headers: Record<string, string> = {}) =>
      t.app.inject({ method: 'GET', url, headers: { ...bearer(token), ...headers } });

    test("a person with no photo gets 404 ImageNotFound in Graph's error body", async () => {
      const response = await get('/v1.0/me/photo', adaToken);
      assert.equal(response.statusCode, 404);
      assert.match(response.headers['content-type'] as string, /^application\/json(;|$)/);
      assert.equal(response.json().error.code, 'ImageNotFound');
      assert.ok(response.json().error.message.length > 0);
    });

    test('a person uploads their own photo through PUT me/photo/$value', async () => {
      const response = await put('/v1.0/me/photo/$value', adaToken, photo);
      assert.equal(response.statusCode, 200, response.body);
    });

    test("photo metadata has Graph's shape", async () => {
      const response = await get('/v1.0/me/photo', adaToken);
      assert.equal(response.statusCode, 200);
      const body = response.json();
      assert.equal(body['@odata.mediaContentType'], 'image/jpeg');
      assert.match(body['@odata.mediaEtag'], /^"[0-9a-f]{32}"$/);
      assert.match(body['@odata.context'], /\$metadata#users\('[0-9a-f-]{36}'\)\/photo\/\$entity$/);
      assert.deepEqual([body.id, body.width, body.height], ['648X648', 648, 648]);
    });

    test('only the sizes not larger than the upload are stored', async () => {
      const small = await makePhoto('png', 300, 200);
      assert.equal((await put('/v1.0/me/photo/$value', graceToken, small)).statusCode, 200);
      const body = (await get(`/v1.0/users/${grace.userPrincipalName}/photos`, adaToken)).json();
      assert.deepEqual(
        body.value.map((p: { id: string }) => p.id),
        ['120X120', '96X96', '64X64', '48X48'],
      );
      const missing = await get(`/v1.0/users/${grace.id}/photos/240x240/$value`, adaToken);
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().error.code, 'ImageNotFound');
    });

    test('photo bytes are a square JPEG of the largest size with an ETag', async () => {
      const response = await get(`/v1.0/users/${ada.userPrincipalName}/photo/$value`, graceToken);
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], 'image/jpeg');
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
      assert.ok(response.headers.etag);
      const meta = await sharp(response.rawPayload).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 648, 648]);
    });

    test('a person is found by id and by userPrincipalName in any case', async () => {
      for (const id of [ada.id, ada.userPrincipalName.toUpperCase(), encodeURIComponent(ada.userPrincipalName)]) {
        assert.equal((await get(`/v1.0/users/${id}/photo`, graceToken)).statusCode, 200, id);
      }
    });

    test('If-None-Match with the current ETag answers 304', async () => {
      const first = await get('/v1.0/users/ada@contoso.example/photos/48x48/$value', graceToken);
      const etag = first.headers.etag as string;
      const again = await get('/v1.0/users/ada@contoso.example/photos/48x48/$value', graceToken, { 'if-none-match': etag });
      assert.equal(again.statusCode, 304);
      assert.equal(again.rawPayload.length, 0);
      const other = await get('/v1.0/users/ada@contoso.example/photos/48x48/$value', graceToken, { 'if-none-match': '"something-else"' });
      assert.equal(other.statusCode, 200);
    });

    test('each Graph size is served at exactly that size', async () => {
      for (const size of [48, 64, 96, 120, 240, 360, 432, 504, 648]) {
        const response = await get(`/v1.0/me/photos/${size}x${size}/$value`, adaToken);
        assert.equal(response.statusCode, 200);
        const meta = await sharp(response.rawPayload).metadata();
        assert.deepEqual([meta.width, meta.height], [size, size]);
        const metadata = (await get(`/v1.0/me/photos/${size}X${size}`, adaToken)).json();
        assert.equal(metadata.id, `${size}X${size}`);
      }
    });

    test('an unknown size is a 400 that lists the sizes', async () => {
      const response = await get('/v1.0/me/photos/50x50/$value', adaToken);
      assert.equal(response.statusCode, 400);
      assert.match(response.json().error.message, /48x48.*648x648/);
    });

    test('an unknown person is 404 Request_ResourceNotFound', async () => {
      for (const id of ['nobody@contoso.example', '00000000-0000-4000-8000-000000000000']) {
        const response = await get(`/v1.0/users/${id}/photo`, adaToken);
        assert.equal(response.statusCode, 404);
        assert.equal(response.json().error.code, 'Request_ResourceNotFound');
      }
    });

    test('a replacement changes the ETag and the bytes; the old ETag no longer matches', async () => {
      const before = await get('/v1.0/me/photo/$value', adaToken);
      const replacement = await makePhoto('jpeg', 700, 700, { color: '#22aa44' });
      assert.equal((await put('/v1.0/me/photo/$value', adaToken, replacement)).statusCode, 200);
      const after = await get('/v1.0/me/photo/$value', adaToken, { 'if-none-match': before.headers.etag as string });
      assert.equal(after.statusCode, 200);
      assert.notEqual(after.headers.etag, before.headers.etag);
      assert.notDeepEqual(after.rawPayload, before.rawPayload);
    });

    test('the same photo uploaded twice keeps one version and one ETag', async () => {
      const first = (await get('/v1.0/me/photo', adaToken)).json()['@odata.mediaEtag'];
      const current = await t.services.mail.getPhoto({ kind: 'operator', name: 'cli' }, ada);
      const response = await t.app.inject({
        method: 'PATCH',
        url: '/v1.0/me/photo/$value',
        headers: bearer(adaToken),
        payload: await makePhoto('jpeg', 700, 700, { color: '#22aa44' }),
      });
      assert.equal(response.statusCode, 200);
      assert.equal((await get('/v1.0/me/photo', adaToken)).json()['@odata.mediaEtag'], first);
      assert.equal((await t.services.mail.getPhoto({ kind: 'operator', name: 'cli' }, ada)).id, current.id);
    });

    test("a person may not change another person's photo", async () => {
      const before = await get(`/v1.0/users/${ada.id}/photo/$value`, adaToken);
      const response = await put(`/v1.0/users/${ada.id}/photo/$value`, graceToken, await makePhoto('jpeg', 100, 100));
      assert.equal(response.statusCode, 403);
      assert.equal(response.json().error.code, 'Authorization_RequestDenied');
      const denied = await t.app.inject({ method: 'DELETE', url: `/v1.0/users/${ada.id}/photo`, headers: bearer(graceToken) });
      assert.equal(denied.statusCode, 403);
      assert.deepEqual((await get(`/v1.0/users/${ada.id}/photo/$value`, adaToken)).rawPayload, before.rawPayload);
    });

    test("an admin may change and remove anyone's photo", async () => {
      const response = await put(
        `/v1.0/users/${grace.userPrincipalName}/photo/$value`,
        adminToken,
        await makePhoto('jpeg', 500, 500, { color: '#aa2244' }),
      );
      assert.equal(response.statusCode, 200);
      const removed = await t.app.inject({
        method: 'DELETE',
        url: `/v1.0/users/${grace.userPrincipalName}/photo`,
        headers: bearer(adminToken),
      });
      assert.equal(removed.statusCode, 204);
      assert.equal((await get(`/v1.0/users/${grace.userPrincipalName}/photo`, adaToken)).statusCode, 404);
    });

    test('a person removes their own photo; removing again is 404', async () => {
      const removed = await t.app.inject({ method: 'DELETE', url: '/v1.0/me/photo', headers: bearer(adaToken) });
      assert.equal(removed.statusCode, 204);
      assert.equal((await get('/v1.0/me/photo/$value', adaToken)).statusCode, 404);
      const again = await t.app.inject({ method: 'DELETE', url: '/v1.0/me/photo', headers: bearer(adaToken) });
      assert.equal(again.statusCode, 404);
      assert.equal(again.json().error.code, 'ImageNotFound');
    });

    test('reading photos needs a token or a session', async () => {
      const anonymous = await t.app.inject({ method: 'GET', url: `/v1.0/users/${ada.id}/photo` });
      assert.equal(anonymous.statusCode, 401);
      assert.equal(anonymous.json().error.code, 'InvalidAuthenticationToken');
      const wrong = await get(`/v1.0/users/${ada.id}/photo`, 'psk_not-a-real-token');
      assert.equal(wrong.statusCode, 401);
      const malformed = await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: { authorization: 'Basic abc' } });
      assert.equal(malformed.statusCode, 401);
    });

    test('a signed-in session can use the Graph API', async () => {
      const cookie = await t.signIn('grace@contoso.example');
      const response = await t.app.inject({
        method: 'PUT',
        url: '/v1.0/me/photo/$value',
        headers: { cookie },
        payload: await makePhoto('jpeg', 200, 200),
      });
      assert.equal(response.statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: { cookie } })).json().id, '120X120');
    });

    test('a revoked token stops working at once', async () => {
      const { id, token } = await t.services.identity.createApiToken({ kind: 'operator', name: 'cli' }, grace, 'short-lived');
      assert.notEqual((await get('/v1.0/me/photo', token)).statusCode, 401);
      await t.services.identity.revokeApiToken({ kind: 'operator', name: 'cli' }, id);
      assert.equal((await get('/v1.0/me/photo', token)).statusCode, 401);
    });

    test("unknown API paths answer in Graph's error body", async () => {
      const response = await get('/v1.0/me/nonsense', adaToken);
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, 'NotFound');
    });
  });
}
