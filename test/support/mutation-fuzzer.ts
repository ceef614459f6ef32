import { makeScanBombJpeg, maxBombScans } from './scan-bomb.ts';

/**
 * A small, seeded mutation fuzzer for image uploads: a PRNG (mulberry32) and mutators that damage
 * valid JPEG, PNG (and BMP) files the way broken cameras, truncated transfers and hostile clients do,
 * or turn them into decode-cost bombs. Every case carries its own seed, so one failure can be
 * replayed alone (`FUZZ_SEED`, case index).
 */

/** mulberry32: a tiny, fast 32-bit PRNG with good enough statistics for fuzzing. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Prng {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next();
  }

  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Derives the seed of case `index` from the run's seed, so each case replays on its own. */
export function caseSeed(runSeed: number, index: number): number {
  let h = (runSeed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Format helpers: JPEG segments, PNG chunks, CRC-32.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface JpegSegment {
  /** Offset of the 0xFF of the marker. */
  offset: number;
  marker: number;
  /** Offset of the 2-byte length field (undefined for markers without one). */
  lengthOffset?: number;
  /** The segment's declared length (including the two length bytes). */
  length?: number;
}

/** The marker segments of a JPEG up to and including the first SOS (scan data follows it). */
export function jpegSegments(jpeg: Buffer): JpegSegment[] {
  const segments: JpegSegment[] = [];
  let at = 2;
  while (at + 4 <= jpeg.length) {
    if (jpeg[at] !== 0xff) break;
    const marker = jpeg[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      segments.push({ offset: at, marker });
      at += 2;
      continue;
    }
    const length = jpeg.readUInt16BE(at + 2);
    segments.push({ offset: at, marker, lengthOffset: at + 2, length });
    if (marker === 0xda) break;
    at += 2 + length;
  }
  return segments;
}

export interface JpegScan {
  /** Offset of the SOS marker. */
  offset: number;
  /** Where its entropy-coded data ends (the next marker other than RSTn). */
  end: number;
  /** Spectral selection start (0: a DC scan) and successive approximation high bit (0: a first scan). */
  ss: number;
  ah: number;
}

/** Every scan of a JPEG up to EOI (a simple walk: no stray bytes between segments expected). */
export function jpegScans(jpeg: Buffer): JpegScan[] {
  const scans: JpegScan[] = [];
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0xd9) break;
    const length = jpeg.readUInt16BE(at + 2);
    let end = at + 2 + length;
    if (marker === 0xda) {
      const components = jpeg[at + 4]!;
      const ss = jpeg[at + 5 + 2 * components]!;
      const ah = jpeg[at + 7 + 2 * components]! >> 4;
      while (
        end + 1 < jpeg.length &&
        !(jpeg[end] === 0xff && jpeg[end + 1] !== 0x00 && !(jpeg[end + 1]! >= 0xd0 && jpeg[end + 1]! <= 0xd7))
      )
        end++;
      scans.push({ offset: at, end, ss, ah });
    }
    at = end;
  }
  return scans;
}

/** Where the entropy-coded scan data starts and ends (before EOI), or undefined when not found. */
export function jpegScanRange(jpeg: Buffer): { start: number; end: number } | undefined {
  const sos = jpegSegments(jpeg).find((s) => s.marker === 0xda);
  if (!sos || sos.length === undefined) return undefined;
  const start = sos.offset + 2 + sos.length;
  const eoi = jpeg.lastIndexOf(Buffer.from([0xff, 0xd9]));
  const end = eoi > start ? eoi : jpeg.length;
  return end > start ? { start, end } : undefined;
}

export interface PngChunk {
  /** Offset of the 4-byte length field. */
  offset: number;
  type: string;
  length: number;
  dataOffset: number;
}

export function pngChunks(png: Buffer): PngChunk[] {
  const chunks: PngChunk[] = [];
  let at = 8;
  while (at + 12 <= png.length) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    chunks.push({ offset: at, type, length, dataOffset: at + 8 });
    if (type === 'IEND' || at + 12 + length > png.length) break;
    at += 12 + length;
  }
  return chunks;
}

/** Rewrites the CRC of the chunk at `chunk.offset` after its type or data changed. */
export function fixPngCrc(png: Buffer, chunk: PngChunk): void {
  const end = chunk.dataOffset + chunk.length;
  if (end + 4 > png.length) return;
  png.writeUInt32BE(crc32(png.subarray(chunk.offset + 4, end)), end);
}

/** A PNG chunk, length and CRC included. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

// ---------------------------------------------------------------------------------------------
// Mutators.

export interface BaseFile {
  name: string;
  bytes: Buffer;
}

export interface Mutation {
  mutator: string;
  detail: string;
  bytes: Buffer;
  /** The scans a decode-cost bomb has (multiply-scans only). */
  scans?: number;
}

type Mutator = (rng: Prng, base: BaseFile, others: readonly BaseFile[]) => Mutation;

/** 1–50 random bits flipped anywhere in the file. */
const bitFlips: Mutator = (rng, base) => {
  const bytes = Buffer.from(base.bytes);
  const flips = rng.int(1, 50);
  for (let i = 0; i < flips; i++) {
    const at = rng.int(0, bytes.length - 1);
    bytes[at] = bytes[at]! ^ (1 << rng.int(0, 7));
  }
  return { mutator: 'bit-flips', detail: `${flips} bits`, bytes };
};

/** A few bits flipped only in the header (before the scan data / the first IDAT), where parsers live. */
const headerBitFlips: Mutator = (rng, base) => {
  const bytes = Buffer.from(base.bytes);
  const headerEnd = isPng(bytes)
    ? (pngChunks(bytes).find((c) => c.type === 'IDAT')?.offset ?? bytes.length)
    : isBmp(bytes)
      ? Math.min(bytes.length, 54 + 1024)
      : (jpegScanRange(bytes)?.start ?? bytes.length);
  const flips = rng.int(1, 8);
  for (let i = 0; i < flips; i++) {
    const at = rng.int(Math.min(2, bytes.length - 1), Math.max(0, Math.min(bytes.length, headerEnd) - 1));
    bytes[at] = bytes[at]! ^ (1 << rng.int(0, 7));
  }
  if (isPng(bytes) && rng.chance(0.7)) for (const chunk of pngChunks(bytes)) if (chunk.dataOffset < headerEnd) fixPngCrc(bytes, chunk);
  return { mutator: 'header-bit-flips', detail: `${flips} bits before offset ${headerEnd}`, bytes };
};

/** Cut at a random point (anywhere from 0 bytes to one byte short). */
const truncate: Mutator = (rng, base) => {
  const at = rng.chance(0.2) ? rng.int(0, Math.min(64, base.bytes.length - 1)) : rng.int(0, base.bytes.length - 1);
  return { mutator: 'truncate', detail: `cut at ${at} of ${base.bytes.length}`, bytes: Buffer.from(base.bytes.subarray(0, at)) };
};

/** Random bytes overwriting a run of the body (the scan data of a JPEG, IDAT of a PNG). */
const overwriteRun: Mutator = (rng, base) => {
  const bytes = Buffer.from(base.bytes);
  const length = rng.int(1, 256);
  const at = rng.int(0, Math.max(0, bytes.length - length));
  rng.bytes(length).copy(bytes, at);
  return { mutator: 'overwrite-run', detail: `${length} random bytes at ${at}`, bytes };
};

/** A random range of one file copied into another (or the same) at a random point. */
const splice: Mutator = (rng, base, others) => {
  const donor = rng.pick(others);
  const from = rng.int(0, donor.bytes.length - 1);
  const length = rng.int(1, Math.min(4096, donor.bytes.length - from));
  const at = rng.int(0, base.bytes.length);
  const replace = rng.chance(0.5);
  const piece = donor.bytes.subarray(from, from + length);
  const bytes = Buffer.concat([
    base.bytes.subarray(0, at),
    piece,
    base.bytes.subarray(replace ? Math.min(base.bytes.length, at + length) : at),
  ]);
  const kind = isPng(donor.bytes) === isPng(base.bytes) ? 'splice' : 'cross-splice';
  return { mutator: kind, detail: `${replace ? 'replace' : 'insert'} ${length} bytes of ${donor.name}@${from} at ${at}`, bytes };
};

/** The head of one file glued to the tail of another (e.g. a JPEG header on a PNG body). */
const headTail: Mutator = (rng, base, others) => {
  const donor = rng.pick(others);
  const cut = rng.int(1, base.bytes.length - 1);
  const from = rng.int(0, donor.bytes.length - 1);
  return {
    mutator: isPng(donor.bytes) === isPng(base.bytes) ? 'head-tail' : 'cross-head-tail',
    detail: `${base.name}[0,${cut}) + ${donor.name}[${from},…)`,
    bytes: Buffer.concat([base.bytes.subarray(0, cut), donor.bytes.subarray(from)]),
  };
};

const INTERESTING_LENGTHS = [0, 1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 13];

/** A JPEG segment's length, or a PNG chunk's length, set to something wrong. */
const segmentLength: Mutator = (rng, base) => {
  const bytes = Buffer.from(base.bytes);
  if (isPng(bytes)) {
    const chunks = pngChunks(bytes);
    if (chunks.length === 0) return bitFlips(rng, base, []);
    const chunk = rng.pick(chunks);
    const value = rng.chance(0.5) ? rng.pick(INTERESTING_U32) : Math.max(0, chunk.length + rng.int(-16, 16));
    bytes.writeUInt32BE(value >>> 0, chunk.offset);
    return { mutator: 'segment-length', detail: `${chunk.type} length ${chunk.length} → ${value >>> 0}`, bytes };
  }
  const segments = jpegSegments(bytes).filter((s) => s.lengthOffset !== undefined);
  if (segments.length === 0) return bitFlips(rng, base, []);
  const segment = rng.pick(segments);
  const value = rng.chance(0.5) ? rng.pick(INTERESTING_LENGTHS) : Math.min(0xffff, Math.max(0, segment.length! + rng.int(-16, 16)));
  bytes.writeUInt16BE(value, segment.lengthOffset!);
  return { mutator: 'segment-length', detail: `marker 0x${segment.marker.toString(16)} length ${segment.length} → ${value}`, bytes };
};

const BMP_FIELDS: [string, number, 2 | 4][] = [
  ['file size', 2, 4],
  ['pixel data offset', 10, 4],
  ['header size', 14, 4],
  ['width', 18, 4],
  ['height', 22, 4],
  ['planes', 26, 2],
  ['bits a pixel', 28, 2],
  ['compression', 30, 4],
  ['image size', 34, 4],
  ['colours used', 46, 4],
];

/** A header field (JPEG SOF size/components, PNG IHDR, BMP header) set to an odd value; PNG CRCs fixed so the lie is read. */
const headerField: Mutator = (rng, base) => {
  const bytes = Buffer.from(base.bytes);
  if (isBmp(bytes) && bytes.length >= 54) {
    const [name, offset, size] = rng.pick(BMP_FIELDS);
    const value = rng.pick([
      0,
      1,
      2,
      3,
      4,
      8,
      12,
      16,
      24,
      32,
      40,
      54,
      124,
      255,
      256,
      0x7fff,
      0x8000,
      0xffff,
      0x7fffffff,
      0x80000000,
      0xffffffff,
      rng.int(0, 0xffffffff),
    ]);
    if (size === 2) bytes.writeUInt16LE(value & 0xffff, offset);
    else bytes.writeUInt32LE(value >>> 0, offset);
    return { mutator: 'header-field', detail: `BMP ${name} → ${size === 2 ? value & 0xffff : value >>> 0}`, bytes };
  }
  if (isPng(bytes)) {
    const ihdr = pngChunks(bytes).find((c) => c.type === 'IHDR');
    if (!ihdr) return bitFlips(rng, base, []);
    const field = rng.int(0, 6);
    const d = ihdr.dataOffset;
    let detail: string;
    if (field <= 1) {
      const value = rng.pick([0, 1, 47, 48, 100, 65535, 65536, 50000, 0x7fffffff, 0xffffffff, rng.int(1, 10000)]);
      bytes.writeUInt32BE(value >>> 0, d + field * 4);
      detail = `IHDR ${field === 0 ? 'width' : 'height'} → ${value}`;
    } else {
      const offset = [8, 9, 10, 11, 12][field - 2]!;
      const value = rng.int(0, 255);
      bytes[d + offset] = value;
      detail = `IHDR byte ${offset} (${['bit depth', 'colour type', 'compression', 'filter', 'interlace'][field - 2]}) → ${value}`;
    }
    fixPngCrc(bytes, ihdr);
    return { mutator: 'header-field', detail, bytes };
  }
  const sof = jpegSegments(bytes).find(
    (s) => s.marker >= 0xc0 && s.marker <= 0xcf && s.marker !== 0xc4 && s.marker !== 0xc8 && s.marker !== 0xcc,
  );
  if (!sof) return bitFlips(rng, base, []);
  const d = sof.offset + 4;
  const field = rng.int(0, 4);
  let detail: string;
  if (field <= 1) {
    const value = rng.pick([0, 1, 47, 48, 0x7fff, 0xffff, rng.int(1, 10000)]);
    bytes.writeUInt16BE(value, d + 1 + (field === 0 ? 2 : 0));
    detail = `SOF ${field === 0 ? 'width' : 'height'} → ${value}`;
  } else if (field === 2) {
    bytes[d] = rng.pick([0, 1, 2, 7, 12, 16, 255]);
    detail = `SOF precision → ${bytes[d]}`;
  } else if (field === 3) {
    bytes[d + 5] = rng.pick([0, 1, 2, 4, 5, 255]);
    detail = `SOF component count → ${bytes[d + 5]}`;
  } else {
    bytes[sof.offset + 1] = rng.pick([0xc1, 0xc2, 0xc3, 0xc5, 0xc9, 0xcb, 0xcf]);
    detail = `SOF marker → 0x${bytes[sof.offset + 1]!.toString(16)}`;
  }
  return { mutator: 'header-field', detail, bytes };
};

/** Chunks or segments removed, duplicated or swapped. */
const reorder: Mutator = (rng, base) => {
  if (isPng(base.bytes)) {
    const chunks = pngChunks(base.bytes);
    if (chunks.length === 0) return bitFlips(rng, base, []);
    const pieces = chunks.map((c) => base.bytes.subarray(c.offset, c.dataOffset + c.length + 4));
    const i = rng.int(0, pieces.length - 1);
    const j = rng.int(0, pieces.length - 1);
    const op = rng.int(0, 2);
    if (op === 0) pieces.splice(i, 1);
    else if (op === 1) pieces.splice(i, 0, pieces[j]!);
    else [pieces[i], pieces[j]] = [pieces[j]!, pieces[i]!];
    return {
      mutator: 'reorder',
      detail: `PNG chunks: ${['drop', 'duplicate', 'swap'][op]} ${chunks[i]?.type}/${chunks[j]?.type}`,
      bytes: Buffer.concat([base.bytes.subarray(0, 8), ...pieces]),
    };
  }
  const segments = jpegSegments(base.bytes).filter((s) => s.length !== undefined && s.marker !== 0xda);
  if (segments.length === 0) return bitFlips(rng, base, []);
  const segment = rng.pick(segments);
  const piece = base.bytes.subarray(segment.offset, segment.offset + 2 + segment.length!);
  const drop = rng.chance(0.5);
  const bytes = drop
    ? Buffer.concat([base.bytes.subarray(0, segment.offset), base.bytes.subarray(segment.offset + piece.length)])
    : Buffer.concat([base.bytes.subarray(0, segment.offset), piece, base.bytes.subarray(segment.offset)]);
  return { mutator: 'reorder', detail: `JPEG marker 0x${segment.marker.toString(16)}: ${drop ? 'drop' : 'duplicate'}`, bytes };
};

/**
 * A decode-cost bomb: hundreds or thousands of scans, each of which makes the decoder visit every
 * block again. A progressive JPEG gets its DC scans repeated after its last scan, with the Huffman
 * tables they were coded with — a valid progression (a first DC scan overwrites each block's DC
 * value, its refinement ORs one bit back in), so a decoder runs every one. Other bases become a flat
 * progressive JPEG of as many scans.
 */
const multiplyScans: Mutator = (rng, base) => {
  const target = rng.chance(0.5) ? rng.int(2, 200) : rng.int(201, 3000);
  const bytes = base.bytes;
  const progressive = !isPng(bytes) && !isBmp(bytes) && jpegSegments(bytes).some((s) => s.marker === 0xc2);
  const scans = progressive ? jpegScans(bytes) : [];
  const dc = scans.filter((s) => s.ss === 0);
  const eoi = scans.length > 0 ? scans[scans.length - 1]!.end : -1;
  if (dc.length === 0 || dc[0]!.ah !== 0 || eoi < 0) {
    const width = rng.int(8, 256);
    const height = rng.int(8, 256);
    const count = Math.min(target, maxBombScans(3));
    return {
      mutator: 'multiply-scans',
      detail: `a flat ${width}×${height} progressive JPEG with ${count} scans`,
      bytes: makeScanBombJpeg({ width, height, scans: count }),
      scans: count,
    };
  }
  const tables = jpegSegments(bytes)
    .filter((s) => s.marker === 0xc4 && s.offset < dc[0]!.offset)
    .map((s) => bytes.subarray(s.offset, s.offset + 2 + s.length!));
  const repeat = Buffer.concat([...tables, ...dc.map((s) => bytes.subarray(s.offset, s.end))]);
  const copies = Math.max(1, Math.ceil((target - scans.length) / dc.length));
  const out = Buffer.concat([bytes.subarray(0, eoi), ...Array.from({ length: copies }, () => repeat), bytes.subarray(eoi)]);
  const count = scans.length + copies * dc.length;
  return {
    mutator: 'multiply-scans',
    detail: `${copies} more copies of its ${dc.length} DC scans: ${count} scans`,
    bytes: out,
    scans: count,
  };
};

export const MUTATORS: Record<string, Mutator> = {
  'bit-flips': bitFlips,
  'header-bit-flips': headerBitFlips,
  truncate,
  'overwrite-run': overwriteRun,
  splice,
  'head-tail': headTail,
  'segment-length': segmentLength,
  'header-field': headerField,
  reorder,
  'multiply-scans': multiplyScans,
};

/** How often each mutator is chosen (bit flips, truncations and splices dominate, as asked). */
const WEIGHTS: [string, number][] = [
  ['bit-flips', 24],
  ['header-bit-flips', 10],
  ['truncate', 16],
  ['overwrite-run', 8],
  ['splice', 14],
  ['head-tail', 6],
  ['segment-length', 10],
  ['header-field', 8],
  ['reorder', 4],
  ['multiply-scans', 6],
];

export interface FuzzCase extends Mutation {
  index: number;
  seed: number;
  base: string;
}

/** `count` cases from the bases; the same seed gives the same cases, in the same order. */
export function* fuzzCases(bases: readonly BaseFile[], count: number, runSeed: number): Generator<FuzzCase> {
  const total = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
  for (let index = 0; index < count; index++) {
    const seed = caseSeed(runSeed, index);
    const rng = new Prng(seed);
    const base = bases[index % bases.length]!;
    let roll = rng.int(0, total - 1);
    let name = WEIGHTS[0]![0];
    for (const [candidate, weight] of WEIGHTS) {
      if (roll < weight) {
        name = candidate;
        break;
      }
      roll -= weight;
    }
    // Sometimes two mutations stacked, to reach states one cannot.
    let mutation = MUTATORS[name]!(rng, base, bases);
    if (rng.chance(0.1) && mutation.bytes.length >= 16) {
      const second = MUTATORS[rng.pick(Object.keys(MUTATORS))]!(rng, { name: base.name, bytes: mutation.bytes }, bases);
      mutation = { mutator: `${mutation.mutator}+${second.mutator}`, detail: `${mutation.detail}; ${second.detail}`, bytes: second.bytes };
    }
    yield { index, seed, base: base.name, ...mutation };
  }
}

function isBmp(bytes: Uint8Array): boolean {
  return bytes[0] === 0x42 && bytes[1] === 0x4d;
}

function isPng(bytes: Uint8Array): boolean {
  return bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
}
