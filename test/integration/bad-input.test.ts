import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { Person } from '../../src/directory/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto, pixelAt } from '../support/images.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

/** A repeatable pseudo-random byte sequence (xorshift), so a failure can be replayed. */
function seededBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function badInputs(): Promise<{ name: string; body: Buffer; status: number; message: RegExp }[]> {
  const jpeg = await makePhoto('jpeg', 640, 480);
  const png = await makePhoto('png', 640, 480);
  const bomb = await sharp({ create: { width: 9_000, height: 9_000, channels: 3, background: '#000' } })
    .toColourspace('b-w')
    .png({ compressionLevel: 9 })
    .toBuffer();
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"><rect width="200" height="200" fill="red"/></svg>';
  const svgWithScript =
    '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"><script>alert(1)</script><rect width="200" height="200"/></svg>';
  const base = sharp({ create: { width: 200, height: 200, channels: 3, background: '#888' } });
  return [
    { name: 'zero bytes', body: Buffer.alloc(0), status: 400, message: /empty/ },
    { name: 'random bytes', body: seededBytes(50_000, 42), status: 400, message: /not an image/ },
    { name: 'plain text', body: Buffer.from('hello, this is not a photo\n'.repeat(20)), status: 400, message: /not an image/ },
    {
      name: 'HTML',
      body: Buffer.from('<!doctype html><html><body><img src=x onerror=alert(1)></body></html>'),
      status: 400,
      message: /not an image/,
    },
    { name: 'SVG', body: Buffer.from(svg), status: 415, message: /SVG/ },
    { name: 'SVG with script', body: Buffer.from(svgWithScript), status: 415, message: /SVG/ },
    { name: 'truncated JPEG', body: jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), status: 400, message: /damaged or incomplete/ },
    { name: 'truncated PNG', body: png.subarray(0, Math.floor(png.length * 0.6)), status: 400, message: /damaged or incomplete/ },
    { name: `pixel bomb (81 MP PNG in ${Math.round(bomb.length / 1024)} KB)`, body: bomb, status: 400, message: /megapixels/ },
    { name: 'GIF', body: await base.clone().gif().toBuffer(), status: 415, message: /GIF images are not accepted/ },
    { name: 'WebP', body: await base.clone().webp().toBuffer(), status: 415, message: /WebP images are not accepted/ },
    { name: 'TIFF', body: await base.clone().tiff().toBuffer(), status: 415, message: /TIFF images are not accepted/ },
    { name: 'a photo smaller than 48×48', body: await makePhoto('jpeg', 40, 40), status: 400, message: /at least 48×48/ },
  ];
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`bad uploads on ${kind} get a clear 4xx and damage nothing`, { skip }, () => {
    let t: TestApp;
    let ada: Person;
    let token: string;
    let original: Buffer;

    before(async () => {
      t = await startTestApp(kind);
      ada = await t.addPerson('ada@contoso.example');
      token = await t.tokenFor(ada);
      const put = await t.app.inject({
        method: 'PUT',
        url: '/v1.0/me/photo/$value',
        headers: bearer(token),
        payload: await makePhoto('jpeg', 900, 900),
      });
      assert.equal(put.statusCode, 200);
      original = (await t.app.inject({ method: 'GET', url: '/v1.0/me/photo/$value', headers: bearer(token) })).rawPayload;
    });
    after(() => t.close());

    const assertPhotoUnchanged = async () => {
      const now = await t.app.inject({ method: 'GET', url: '/v1.0/me/photo/$value', headers: bearer(token) });
      assert.equal(now.statusCode, 200);
      assert.ok(now.rawPayload.equals(original), 'the previous photo must be byte-for-byte unchanged');
      assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    };

    test("each bad upload is refused with a clear message in Graph's error body", async () => {
      for (const input of await badInputs()) {
        const response = await t.app.inject({
          method: 'PUT',
          url: '/v1.0/me/photo/$value',
          headers: { ...bearer(token), 'content-type': 'image/jpeg' },
          payload: input.body,
        });
        assert.equal(response.statusCode, input.status, `${input.name}: ${response.body}`);
        const { error } = response.json();
        assert.ok(error.code, `${input.name} has an error code`);
        assert.match(error.message, input.message, input.name);
        await assertPhotoUnchanged();
      }
    });

    test('a body over 4 MB gets 413 over a real socket, not a reset connection', async () => {
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const response = await fetch(`${address}/v1.0/me/photo/$value`, {
        method: 'PUT',
        headers: { ...bearer(token), 'content-type': 'image/jpeg' },
        body: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(5 * 1024 * 1024)]),
      });
      assert.equal(response.status, 413);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'ImageTooLarge');
      assert.match(body.error.message, /4 MB/);
      await assertPhotoUnchanged();
    });

    test('a good image with a wrong Content-Type is judged by its bytes', async () => {
      for (const contentType of ['application/json', 'text/plain', 'application/octet-stream']) {
        const photo = await makePhoto('png', 300, 300, { color: contentType === 'text/plain' ? '#113355' : '#335511' });
        const response = await t.app.inject({
          method: 'PUT',
          url: '/v1.0/me/photo/$value',
          headers: { ...bearer(token), 'content-type': contentType },
          payload: photo,
        });
        assert.equal(response.statusCode, 200, contentType);
      }
      // Restore the reference photo for the other tests.
      const reset = await t.app.inject({
        method: 'PUT',
        url: '/v1.0/me/photo/$value',
        headers: bearer(token),
        payload: await makePhoto('jpeg', 900, 900),
      });
      assert.equal(reset.statusCode, 200);
      original = (await t.app.inject({ method: 'GET', url: '/v1.0/me/photo/$value', headers: bearer(token) })).rawPayload;
    });
  });

  describe(`awkward uploads on ${kind} are stored sanely`, { skip }, () => {
    let t: TestApp;
    let token: string;

    before(async () => {
      t = await startTestApp(kind);
      token = await t.tokenFor(await t.addPerson('grace@contoso.example'));
    });
    after(() => t.close());

    const upload = async (body: Buffer, size = '240x240') => {
      const put = await t.app.inject({ method: 'PUT', url: '/v1.0/me/photo/$value', headers: bearer(token), payload: body });
      assert.equal(put.statusCode, 200, put.body);
      const served = (await t.app.inject({ method: 'GET', url: `/v1.0/me/photos/${size}/$value`, headers: bearer(token) })).rawPayload;
      const meta = await sharp(served).metadata();
      assert.equal(meta.format, 'jpeg');
      assert.equal(meta.exif, undefined, 'no EXIF leaves the server');
      assert.equal(meta.xmp, undefined, 'no XMP leaves the server');
      assert.equal(meta.space, 'srgb');
      assert.equal(meta.channels, 3);
      return served;
    };

    test('an EXIF-rotated photo is served upright', async () => {
      // Stored landscape with the red marker top-left; orientation 6 means "display rotated 90° clockwise",
      // so upright the marker is at the top right.
      const stored = await makePhoto('jpeg', 800, 600, { color: '#0000ff', marker: '#ff0000' });
      const rotated = await sharp(stored).withMetadata({ orientation: 6 }).jpeg().toBuffer();
      const served = await upload(rotated);
      const [r1, , b1] = await pixelAt(served, 200, 20);
      const [r2, , b2] = await pixelAt(served, 40, 20);
      assert.ok(r1 > 200 && b1 < 60, `top right is the red marker (got ${r1},${b1})`);
      assert.ok(b2 > 200 && r2 < 60, `top left is blue (got ${r2},${b2})`);
    });

    test('a GPS-tagged photo is served without GPS or any EXIF', async () => {
      const tagged = await sharp(await makePhoto('jpeg', 500, 500))
        .withExif({
          IFD0: { Make: 'TestCam', Copyright: 'secret owner' },
          IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
        })
        .jpeg()
        .toBuffer();
      assert.ok((await sharp(tagged).metadata()).exif, 'the upload itself carries EXIF');
      const served = await upload(tagged);
      assert.equal(served.indexOf('Exif'), -1);
      assert.equal(served.indexOf('secret owner'), -1);
    });

    test('a CMYK JPEG is converted to sRGB', async () => {
      const cmyk = await sharp(await makePhoto('jpeg', 400, 400))
        .toColourspace('cmyk')
        .jpeg()
        .toBuffer();
      assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
      await upload(cmyk);
    });

    test('a 16-bit PNG is stored as an 8-bit JPEG', async () => {
      const deep = await sharp(await makePhoto('png', 400, 400))
        .toColourspace('rgb16')
        .png()
        .toBuffer();
      assert.equal((await sharp(deep).metadata()).depth, 'ushort');
      const served = await upload(deep);
      assert.equal((await sharp(served).metadata()).depth, 'uchar');
    });

    test('a PNG with transparency is flattened onto white', async () => {
      const clear = await sharp({ create: { width: 300, height: 300, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
        .png()
        .toBuffer();
      const served = await upload(clear);
      const [r, g, b] = await pixelAt(served, 100, 100);
      assert.ok(r > 245 && g > 245 && b > 245, `transparent becomes white (got ${r},${g},${b})`);
    });

    test('a JPEG with a zip appended is served re-encoded, without the zip', async () => {
      const zip = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.from('payload.txt secret archive contents '.repeat(50))]);
      const polyglot = Buffer.concat([await makePhoto('jpeg', 400, 400), zip]);
      const served = await upload(polyglot);
      assert.equal(served.indexOf('PK\x03\x04', 0, 'latin1'), -1);
      assert.equal(served.indexOf('secret archive'), -1);
    });
  });
}
