import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidImage } from '../../src/errors.ts';
import { httpStatusOf } from '../../src/http/index.ts';
import { decodeBmp } from '../../src/imaging/bmp.ts';
import { makeBmp } from '../support/bmp.ts';

// 3 pixels wide: a 24-bit row is 9 bytes padded to 12, so reading past the padding would show.
const WIDTH = 3;
const HEIGHT = 2;
const colourAt = (x: number, y: number): [number, number, number] => [10 + 80 * x, 20 + 100 * y, 30 + x + 3 * y];
/** What a decoder must give: RGB, rows top-down. */
const expectedPixels = Buffer.from(Array.from({ length: WIDTH * HEIGHT }, (_, i) => colourAt(i % WIDTH, Math.floor(i / WIDTH))).flat());

const refusedBecause = (bytes: Buffer, reason: RegExp) =>
  assert.throws(
    () => decodeBmp(bytes),
    (error: unknown) => {
      assert.ok(error instanceof InvalidImage, `an InvalidImage, not ${String(error)}`);
      assert.equal(httpStatusOf(error), 400);
      assert.match(error.message, /^The BMP image cannot be read: /);
      assert.match(error.message, reason);
      return true;
    },
  );

/** A valid 24-bit BMP with some of its bytes changed. */
const patched = (patch: (bmp: Buffer) => void) => {
  const bmp = makeBmp(WIDTH, HEIGHT, colourAt);
  patch(bmp);
  return bmp;
};

test('24-bit BMPs decode to their pixels, rows bottom-up or top-down', () => {
  for (const topDown of [false, true]) {
    assert.deepEqual(
      decodeBmp(makeBmp(WIDTH, HEIGHT, colourAt, { topDown })),
      { width: WIDTH, height: HEIGHT, pixels: expectedPixels },
      `topDown: ${topDown}`,
    );
  }
});

test('32-bit BMPs decode to their pixels without the alpha byte, plain or with the usual bit fields', () => {
  for (const bitfields of [false, true]) {
    for (const topDown of [false, true]) {
      assert.deepEqual(
        decodeBmp(makeBmp(WIDTH, HEIGHT, colourAt, { bitsPerPixel: 32, bitfields, topDown })),
        { width: WIDTH, height: HEIGHT, pixels: expectedPixels },
        `bitfields: ${bitfields}, topDown: ${topDown}`,
      );
    }
  }
});

test('a file without a BMP header is refused', () => {
  refusedBecause(Buffer.alloc(0), /the header is missing/);
  refusedBecause(makeBmp(WIDTH, HEIGHT, colourAt).subarray(0, 53), /the header is missing/);
  refusedBecause(
    patched((bmp) => bmp.write('PK', 0, 'latin1')),
    /the header is missing/,
  );
});

test('a BMP whose pixel rows stop before the declared size is refused as incomplete', () => {
  const bmp = makeBmp(WIDTH, HEIGHT, colourAt);
  refusedBecause(bmp.subarray(0, bmp.length - 1), /the file is incomplete/);
  refusedBecause(
    patched((b) => b.writeUInt32LE(0xfffffff0, 10)),
    /the file is incomplete/,
  );
});

test('a BMP of more than 5 megapixels is refused before its pixels are read', () => {
  // 2237 × 2236 = 5,001,932 pixels, declared by a header alone.
  refusedBecause(
    patched((bmp) => (bmp.writeInt32LE(2237, 18), bmp.writeInt32LE(2236, 22))),
    /more than 5 megapixels/,
  );
  refusedBecause(
    patched((bmp) => (bmp.writeInt32LE(0x7fffffff, 18), bmp.writeInt32LE(-0x80000000, 22))),
    /more than 5 megapixels/,
  );
});

test('a BMP with no width or height is refused', () => {
  refusedBecause(
    patched((bmp) => bmp.writeInt32LE(0, 18)),
    /its size is invalid/,
  );
  refusedBecause(
    patched((bmp) => bmp.writeInt32LE(-WIDTH, 18)),
    /its size is invalid/,
  );
  refusedBecause(
    patched((bmp) => bmp.writeInt32LE(0, 22)),
    /its size is invalid/,
  );
});

test('an OS/2 header, 16 bits a pixel or compression is refused by name', () => {
  refusedBecause(
    patched((bmp) => bmp.writeUInt32LE(12, 14)),
    /only BMP files with a Windows \(v3 or later\) header/,
  );
  refusedBecause(
    patched((bmp) => bmp.writeUInt16LE(16, 28)),
    /16 bits a pixel is not supported/,
  );
  refusedBecause(
    patched((bmp) => (bmp.writeUInt16LE(8, 28), bmp.writeUInt32LE(1, 30))),
    /compressed BMP files are not supported/,
  );
  refusedBecause(
    patched((bmp) => bmp.writeUInt32LE(3, 30)),
    /compressed BMP files are not supported/,
  ); // bit fields are for 32 bits only
});
