import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { InvalidImage } from '../../src/errors.ts';
import { httpStatusOf } from '../../src/http/index.ts';
import { boundedSharp, IMAGE_WORK_TIMEOUT_SECONDS, withinTimeLimit } from '../../src/imaging/bounded-sharp.ts';
import { assertDecodeCostBounded, MAX_JPEG_SCANS, MAX_PNG_DECODE_BYTES } from '../../src/imaging/decode-cost.ts';
import { renderMailPhotoSizes, renderSiteThumbnails } from '../../src/imaging/index.ts';
import { jpegSegments, pngChunks } from '../support/mutation-fuzzer.ts';
import { makeScanBombJpeg, maxBombScans } from '../support/scan-bomb.ts';

/* Issue 10: no accepted or refused image costs more than 2 s of image work. */

const refusedAs = (pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof InvalidImage, `an InvalidImage (400), not ${String(error)}`);
  assert.equal(httpStatusOf(error), 400);
  assert.match(error.message, pattern);
  return true;
};

test(`a JPEG with more than ${MAX_JPEG_SCANS} scans is refused before decoding, with a message that says how many`, () => {
  assert.doesNotThrow(() => assertDecodeCostBounded(makeScanBombJpeg({ width: 300, height: 300, scans: MAX_JPEG_SCANS })));
  assert.throws(
    () => assertDecodeCostBounded(makeScanBombJpeg({ width: 300, height: 300, scans: MAX_JPEG_SCANS + 1 })),
    refusedAs(
      new RegExp(`^This JPEG has ${MAX_JPEG_SCANS + 1} scans; photos have at most ${MAX_JPEG_SCANS}\\. Save it again as a normal JPEG\\.$`),
    ),
  );
  assert.throws(
    () => assertDecodeCostBounded(makeScanBombJpeg({ width: 64, height: 64, scans: maxBombScans(3) })),
    refusedAs(/has 2,647 scans/),
  );
});

test('a large JPEG is refused when its scans would take too long to decode at its size, though each is allowed', () => {
  assert.throws(
    () => assertDecodeCostBounded(makeScanBombJpeg({ width: 6000, height: 6000, scans: 60 })),
    refusedAs(/^This 6000×6000 JPEG has 60 scans, too many to decode at that size\. Save it again as a normal JPEG, or smaller\.$/),
  );
  assert.doesNotThrow(() => assertDecodeCostBounded(makeScanBombJpeg({ width: 6000, height: 6000, scans: 30 })));
  assert.doesNotThrow(() => assertDecodeCostBounded(makeScanBombJpeg({ width: 3000, height: 3000, scans: 60 })));
});

test("photos as encoders write them pass the decode-cost check at the largest size accepted (libjpeg's CMYK script, mozjpeg, baseline)", async () => {
  // The check reads only the headers, so a small photo whose frame header says 6000×6000 (36 MP,
  // under the 40 MP limit) stands in for a real one, without encoding 36 MP four times.
  const small = sharp({ create: { width: 320, height: 240, channels: 3, background: '#7a5c3e' } });
  for (const [name, jpeg] of [
    ['baseline', await small.clone().jpeg().toBuffer()],
    ['progressive 4:4:4', await small.clone().jpeg({ progressive: true, chromaSubsampling: '4:4:4' }).toBuffer()],
    ['mozjpeg', await small.clone().jpeg({ mozjpeg: true }).toBuffer()],
    [
      'progressive CMYK (18 scans)',
      await small.clone().toColourspace('cmyk').jpeg({ progressive: true, chromaSubsampling: '4:4:4' }).toBuffer(),
    ],
  ] as const) {
    const sof = jpegSegments(jpeg).find((s) => s.marker === 0xc0 || s.marker === 0xc2)!;
    jpeg.writeUInt16BE(6000, sof.offset + 5);
    jpeg.writeUInt16BE(6000, sof.offset + 7);
    assert.doesNotThrow(() => assertDecodeCostBounded(jpeg), name);
  }
});

test(`a PNG is refused before decoding when its pixels are too deep or interlaced to decode at its size (${MAX_PNG_DECODE_BYTES / 1e6} million decoded bytes)`, async () => {
  // Only the header matters to the check: small PNGs whose IHDR says 6320×6320 (39.9 MP) stand in.
  const declare = (png: Buffer, side: number) => {
    const ihdr = pngChunks(png).find((c) => c.type === 'IHDR')!;
    png.writeUInt32BE(side, ihdr.dataOffset);
    png.writeUInt32BE(side, ihdr.dataOffset + 4);
    return png;
  };
  const rgba = sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } });
  const deepInterlaced = await rgba.clone().toColourspace('rgb16').png({ progressive: true }).toBuffer();
  assert.throws(
    () => assertDecodeCostBounded(declare(deepInterlaced, 6320)),
    refusedAs(
      /^This 6320×6320 PNG \(16-bit, interlaced\) is too much to decode\. Save it again as a normal 8-bit PNG or a JPEG, or smaller\.$/,
    ),
  );
  // 16-bit interlaced RGBA is fine at 4000×4000 (16 MP); 8-bit interlaced and 16-bit plain pass at 40 MP.
  const shallowInterlaced = await rgba.clone().png({ progressive: true }).toBuffer();
  const deepPlain = await rgba.clone().toColourspace('rgb16').png().toBuffer();
  assert.doesNotThrow(() => assertDecodeCostBounded(declare(Buffer.from(deepInterlaced), 4000)));
  assert.doesNotThrow(() => assertDecodeCostBounded(declare(shallowInterlaced, 6320)));
  assert.doesNotThrow(() => assertDecodeCostBounded(declare(deepPlain, 6320)));
});

test('every decode path refuses a scan bomb before decoding it: Mail renditions and Sites thumbnails', async () => {
  // 3000×3000 with 2,647 scans: 6–15 s of decoding each before the check existed.
  const bomb = makeScanBombJpeg({ width: 3000, height: 3000, scans: maxBombScans(3) });
  for (const [path, render] of [
    ['Mail renditions', () => renderMailPhotoSizes(bomb)],
    ['Sites thumbnails (the photo may come from a remote Graph endpoint)', () => renderSiteThumbnails(bomb)],
  ] as const) {
    const started = performance.now();
    await assert.rejects(render, refusedAs(/has 2,647 scans/), path);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 500, `${path}: the refusal took ${Math.round(elapsed)} ms`);
  }
});

test(`an image pipeline still running after ${IMAGE_WORK_TIMEOUT_SECONDS} s is stopped and refused with a 4xx`, async () => {
  // Tens of seconds of blurring here (minutes on a slow machine), in many small tiles the clock is checked between.
  const started = performance.now();
  await assert.rejects(
    withinTimeLimit(
      boundedSharp({ create: { width: 10000, height: 10000, channels: 3, background: '#808080' } })
        .blur(200)
        .jpeg()
        .toBuffer(),
    ),
    refusedAs(new RegExp(`^Processing this image took more than ${IMAGE_WORK_TIMEOUT_SECONDS} seconds and was stopped\\.`)),
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed < (IMAGE_WORK_TIMEOUT_SECONDS + 2) * 1000, `stopped after ${Math.round(elapsed)} ms`);
});
