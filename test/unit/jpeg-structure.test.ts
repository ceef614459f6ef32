import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { readJpegStructure } from '../../src/imaging/jpeg-structure.ts';
import { jpegSegments } from '../support/mutation-fuzzer.ts';
import { makeScanBombJpeg } from '../support/scan-bomb.ts';

/*
 * The scan counter must see every scan the decoder will run (or a bomb slips through) and no scan it
 * will not (or a real photo is refused): it reads markers the way libjpeg does.
 */

const photo = (progressive: boolean) =>
  sharp({ create: { width: 160, height: 120, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg({ quality: 80, progressive })
    .toBuffer();

/** Every offset of an SOS marker in the file (found by walking the segments and the scan data). */
function sosOffsets(jpeg: Buffer): number[] {
  const offsets: number[] = [];
  for (let at = 0; at + 1 < jpeg.length; at++) if (jpeg[at] === 0xff && jpeg[at + 1] === 0xda) offsets.push(at);
  return offsets;
}

function segment(marker: number, body: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

test('a baseline JPEG has one scan, a progressive one its script of ten, and both end at EOI', async () => {
  const baseline = readJpegStructure(await photo(false));
  assert.equal(baseline.scans.length, 1);
  assert.deepEqual(baseline.scans[0], [1, 2, 3]);
  assert.equal(baseline.complete, true);
  assert.equal(baseline.frame?.marker, 0xc0);
  assert.equal(baseline.frame?.width, 160);
  assert.equal(baseline.frame?.height, 120);
  assert.deepEqual(
    baseline.frame?.components.map((c) => [c.id, c.h, c.v]),
    [
      [1, 2, 2],
      [2, 1, 1],
      [3, 1, 1],
    ],
  );

  const progressive = readJpegStructure(await photo(true));
  assert.equal(progressive.scans.length, 10);
  assert.equal(progressive.frame?.marker, 0xc2);
  assert.equal(progressive.complete, true);
});

test('every scan of a many-scan bomb is counted, with restart markers in its data or without', () => {
  for (const restartInterval of [0, 1, 7]) {
    const bomb = makeScanBombJpeg({ width: 96, height: 64, scans: 500, restartInterval });
    const structure = readJpegStructure(bomb);
    assert.equal(structure.scans.length, 500, `restart interval ${restartInterval}`);
    assert.equal(structure.complete, true);
    if (restartInterval > 0)
      assert.ok(bomb.includes(Buffer.from([0xff, 0xd0])) && bomb.includes(Buffer.from([0xff, 0xd7])), 'the data holds restart markers');
  }
});

test('stuffed 0xFF bytes and restart markers inside scan data do not end the scan', () => {
  const head = makeScanBombJpeg({ width: 16, height: 16, scans: 1, components: 1 });
  const eoi = head.length - 2;
  const firstSos = sosOffsets(head)[0]!;
  // Scan data with FF 00 (a stuffed FF), FF D0…FF D7 (restarts) and FF FF FF D3 (fill, then a restart).
  const data = Buffer.from([0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xd7, 0xff, 0xff, 0xff, 0xd3, 0x78]);
  const sos = head.subarray(firstSos, firstSos + 10);
  const jpeg = Buffer.concat([head.subarray(0, eoi), sos, data, sos, data, Buffer.from([0xff, 0xd9])]);
  assert.equal(readJpegStructure(jpeg).scans.length, 3);
});

test('fill bytes (0xFF padding) before markers hide no scan', () => {
  const bomb = makeScanBombJpeg({ width: 64, height: 64, scans: 300 });
  const parts: Buffer[] = [];
  let from = 0;
  for (const at of sosOffsets(bomb)) {
    parts.push(bomb.subarray(from, at), Buffer.alloc(5, 0xff));
    from = at;
  }
  parts.push(bomb.subarray(from));
  const padded = Buffer.concat(parts);
  assert.equal(readJpegStructure(padded).scans.length, 300);
});

test('stray bytes between segments are skipped as the decoder skips them, so they hide no scan', () => {
  const bomb = makeScanBombJpeg({ width: 64, height: 64, scans: 200 });
  const sof = jpegSegments(bomb).find((s) => s.marker === 0xc2)!;
  const afterSof = sof.offset + 2 + sof.length!;
  const junk = Buffer.from('not a marker at all; \x00\x01\x02', 'latin1');
  const structure = readJpegStructure(Buffer.concat([bomb.subarray(0, afterSof), junk, bomb.subarray(afterSof)]));
  assert.equal(structure.scans.length, 200);
  assert.equal(structure.frame?.width, 64);
});

test('APPn and COM payloads are skipped by their length: an EXIF thumbnail is not the image', async () => {
  const image = await photo(false);
  const thumbnail = makeScanBombJpeg({ width: 32, height: 32, scans: 400 });
  const app1 = segment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), thumbnail]));
  const com = segment(0xfe, Buffer.from([0xff, 0xda, 0x00, 0x08, 0xff, 0xda, 0xff, 0xd9]));
  const structure = readJpegStructure(Buffer.concat([image.subarray(0, 2), app1, com, image.subarray(2)]));
  assert.equal(structure.scans.length, 1);
  assert.equal(structure.frame?.width, 160, "the thumbnail's frame header is not the image's");
  assert.equal(structure.complete, true);
});

test('nothing after EOI counts: the decoder stops there', async () => {
  const image = await photo(true);
  const structure = readJpegStructure(Buffer.concat([image, makeScanBombJpeg({ width: 64, height: 64, scans: 1000 })]));
  assert.equal(structure.scans.length, 10);
  assert.equal(structure.complete, true);
});

test('truncated input: the scans before the cut are counted, and the walk says it ended early', () => {
  const bomb = makeScanBombJpeg({ width: 64, height: 64, scans: 300 });
  const offsets = sosOffsets(bomb);
  for (const [cut, scans] of [
    [offsets[150]! + 5, 150], // inside the 151st scan header
    [offsets[150]! + 12, 151], // inside the 151st scan's data
    [offsets[0]!, 0], // right before the first scan
    [3, 0], // inside SOI's marker
    [bomb.length - 1, 300], // EOI cut in half
  ] as const) {
    const structure = readJpegStructure(bomb.subarray(0, cut));
    assert.equal(structure.scans.length, scans, `cut at ${cut}`);
    assert.equal(structure.complete, false, `cut at ${cut}`);
  }
});

test('a segment length below 2 ends the walk, as it ends decoding', () => {
  const bomb = makeScanBombJpeg({ width: 64, height: 64, scans: 300 });
  const at = sosOffsets(bomb)[100]!;
  const broken = Buffer.from(bomb);
  broken.writeUInt16BE(1, at + 2);
  assert.equal(readJpegStructure(broken).scans.length, 100);
});

test('bytes that are not a JPEG have no scans', () => {
  for (const bytes of [
    Buffer.alloc(0),
    Buffer.from([0xff]),
    Buffer.from([0xff, 0xd8]),
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    Buffer.from([0xff, 0xda, 0x00, 0x08]),
  ]) {
    const structure = readJpegStructure(bytes);
    assert.equal(structure.scans.length, 0);
    assert.equal(structure.frame, undefined);
  }
});
