import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PictureUnusable, readPictureClaim } from '../../src/oidc/index.ts';

const OPTIONS = { timeoutMs: 1000, maxBytes: 64, fetch: () => Promise.reject(new Error('no network in a unit test')) };
const BYTES = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0xfb, 0xff]);

test('a picture claim in base64 is decoded, in either alphabet and across line breaks', async () => {
  assert.deepEqual(await readPictureClaim(BYTES.toString('base64'), OPTIONS), BYTES);
  assert.deepEqual(await readPictureClaim(BYTES.toString('base64url'), OPTIONS), BYTES);
  const wrapped = BYTES.toString('base64').replace(/(.{4})/g, '$1\n');
  assert.deepEqual(await readPictureClaim(wrapped, OPTIONS), BYTES);
});

test('a data: URL is decoded, base64 or percent-encoded, and must hold an image', async () => {
  assert.deepEqual(await readPictureClaim(`data:image/jpeg;base64,${BYTES.toString('base64')}`, OPTIONS), BYTES);
  assert.deepEqual(await readPictureClaim('data:image/png,%89PNG', OPTIONS), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  await assert.rejects(readPictureClaim('data:text/html;base64,PGgxPg==', OPTIONS), /holds text\/html, not an image/);
  await assert.rejects(readPictureClaim('data:image/png;base64', OPTIONS), /has no data/);
});

test('anything else is refused with the reason: other schemes, not base64, empty, too large, not a string', async () => {
  const cases: [unknown, RegExp][] = [
    ['file:///etc/passwd', /scheme is not http or https \(file:\)/],
    ['javascript:alert(1)', /scheme is not http or https/],
    ['not base64 at all!', /neither a URL, a data: URL nor base64/],
    ['   ', /not a string/],
    [Buffer.alloc(100).toString('base64'), /larger than 64 bytes/],
    [{ url: 'https://x' }, /not a string/],
  ];
  for (const [claim, reason] of cases) {
    await assert.rejects(
      readPictureClaim(claim, OPTIONS),
      (error: Error) => error instanceof PictureUnusable && reason.test(error.message),
      String(claim),
    );
  }
});

test('a URL that cannot be fetched is refused with why, not thrown raw', async () => {
  await assert.rejects(
    readPictureClaim('https://pictures.contoso.example/ada.jpg', OPTIONS),
    (error: Error) =>
      error instanceof PictureUnusable && /fetching https:\/\/pictures\.contoso\.example failed: no network/.test(error.message),
  );
});
