import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { photoContentEtag } from '../../src/mail/index.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

describe('overload', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('sqlite', { IMAGE_CONCURRENCY: '1', UPLOAD_QUEUE_LENGTH: '1' });
  });
  after(() => t.close());

  test('an upload flood gets 503 with Retry-After beyond the waiting line, never unbounded work; reads go on', async () => {
    const person = await t.addPerson('flood@contoso.example');
    const token = await t.tokenFor(person);
    const big = (i: number) =>
      sharp({
        create: {
          width: 3000,
          height: 3000,
          channels: 3,
          background: { r: 20 * i, g: 100, b: 200 - 10 * i },
          noise: { type: 'gaussian', mean: 128, sigma: 20 },
        },
      })
        .jpeg({ quality: 85 })
        .toBuffer();
    const photos = await Promise.all(Array.from({ length: 8 }, (_, i) => big(i)));
    const uploads = photos.map((payload) =>
      t.app.inject({ method: 'PUT', url: '/v1.0/me/photo/$value', headers: { ...bearer(token), 'content-type': 'image/jpeg' }, payload }),
    );
    const read = await t.app.inject({
      method: 'GET',
      url: `/_layouts/15/userphoto.aspx?size=S&accountname=${person.userPrincipalName}`,
      headers: bearer(token),
    });
    assert.equal(read.statusCode, 200, 'a thumbnail read is answered during the flood');
    const responses = await Promise.all(uploads);
    const statuses = responses.map((r) => r.statusCode);
    assert.ok(
      statuses.every((s) => s === 200 || s === 503),
      `only 200 or 503: ${statuses}`,
    );
    assert.ok(statuses.filter((s) => s === 200).length >= 2, 'the one running and the one waiting are served');
    const refused = responses.filter((r) => r.statusCode === 503);
    assert.ok(refused.length >= 1, 'the rest are refused at once');
    for (const r of refused) {
      assert.equal(r.headers['retry-after'], '2');
      assert.equal(r.json().error.code, 'serviceNotAvailable');
      assert.match(r.json().error.message, /busy/);
    }
    const current = await t.services.mail.getPhoto(CLI_ACTOR, person, { fresh: true });
    const acceptedEtags = photos.filter((_, i) => statuses[i] === 200).map(photoContentEtag);
    assert.ok(acceptedEtags.includes(current.etag), 'the stored photo is one that was acknowledged');
    const retried = await t.app.inject({
      method: 'PUT',
      url: '/v1.0/me/photo/$value',
      headers: { ...bearer(token), 'content-type': 'image/jpeg' },
      payload: photos[7],
    });
    assert.equal(retried.statusCode, 200, 'after the flood, a retry is served');
  });
});
