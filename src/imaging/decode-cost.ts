import { InvalidImage } from '../errors.ts';
import { readJpegStructure, type JpegFrame } from './jpeg-structure.ts';

/**
 * Scans one JPEG may have. Encoders write few: libjpeg's standard progressive script has 10 for
 * colour and 18 for CMYK, mozjpeg's optimised ones 6–9, a baseline file 1 (3 or 4 when its components
 * are stored apart). 100 leaves any tool's own script room, and refuses the thousands a decode-cost
 * bomb needs (issue 10: 2,600 scans made a 127 KB file cost 11–15 s to decode).
 */
export const MAX_JPEG_SCANS = 100;

/**
 * The decoding work a JPEG may ask for, counted in 8×8 blocks visited: every scan visits every block
 * of the components it covers, even when it holds almost no data (an end-of-band run covers 32,767
 * blocks in a few bits), so the cost grows with scans × blocks, not with the file's size. Measured at
 * 10–15 ns a block on top of ~1.1 s for a 40-megapixel progressive photo's own decode; 24 million
 * keeps the largest photo we accept under about 1.5 s. That is 38 full-size scans at 40 megapixels,
 * and well over what photos need (libjpeg's script for a 40 MP CMYK photo, its heaviest: 15 million).
 */
export const MAX_JPEG_DECODE_BLOCKS = 24_000_000;

/**
 * The decoded bytes a PNG may ask for, interlaced ones counted twice. A PNG's cost follows its pixels
 * and their depth, not its file size (zlib packs a flat 40 MP frame into a few hundred KB): measured
 * about 0.1 s per byte a pixel at 40 MP, and twice that interlaced (the seven passes are unpacked into
 * a full frame). The worst the pixel limit alone lets through, 40 MP of 16-bit RGBA interlaced, took
 * 1.8 s, and over 2 s beside other work. 320 million is 40 MP of 8-bit RGBA interlaced or 16-bit RGBA
 * plain (~0.9 s); 16-bit interlaced photos are refused above 20–27 MP.
 */
export const MAX_PNG_DECODE_BYTES = 320_000_000;

/**
 * Refuses, before any decoding, an image whose decoding would cost far more than its size suggests:
 * a JPEG with too many scans, a PNG with too many deep or interlaced pixels. Many IDAT chunks or
 * compressed text cost no more than their bytes (sharp's default limits refuse huge ancillary chunks),
 * and other formats are refused before they are decoded.
 */
export function assertDecodeCostBounded(bytes: Uint8Array): void {
  assertPngCostBounded(bytes);
  const { frame, scans } = readJpegStructure(bytes);
  if (scans.length > MAX_JPEG_SCANS) {
    throw new InvalidImage(
      `This JPEG has ${scans.length.toLocaleString('en')} scans; photos have at most ${MAX_JPEG_SCANS}. Save it again as a normal JPEG.`,
    );
  }
  if (frame && decodeBlocks(frame, scans) > MAX_JPEG_DECODE_BLOCKS) {
    throw new InvalidImage(
      `This ${frame.width}×${frame.height} JPEG has ${scans.length} scans, too many to decode at that size. Save it again as a normal JPEG, or smaller.`,
    );
  }
}

/** The blocks the decoder visits: for each scan, every block of each component in it. */
function decodeBlocks(frame: JpegFrame, scans: number[][]): number {
  const hMax = Math.max(1, ...frame.components.map((c) => c.h));
  const vMax = Math.max(1, ...frame.components.map((c) => c.v));
  const blocksOf = new Map(
    frame.components.map((c) => [
      c.id,
      Math.ceil(Math.ceil((frame.width * Math.max(1, c.h)) / hMax) / 8) *
        Math.ceil(Math.ceil((frame.height * Math.max(1, c.v)) / vMax) / 8),
    ]),
  );
  // A scan naming a component the frame lacks is an error for the decoder; count it as the largest.
  const largest = Math.max(0, ...blocksOf.values());
  let total = 0;
  for (const ids of scans) for (const id of ids) total += blocksOf.get(id) ?? largest;
  return total;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples a pixel has per PNG colour type; a palette is expanded to RGBA at worst. */
const PNG_SAMPLES: Record<number, number> = { 0: 1, 2: 3, 3: 4, 4: 2, 6: 4 };

function assertPngCostBounded(bytes: Uint8Array): void {
  // The signature, then IHDR (which must come first): length, type, width, height, depth, colour type, …, interlace.
  if (bytes.length < 33 || !PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return;
  if (Buffer.from(bytes.subarray(12, 16)).toString('latin1') !== 'IHDR') return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const bitDepth = bytes[24]!;
  const samples = PNG_SAMPLES[bytes[25]!] ?? 4;
  const interlaced = bytes[28] === 1;
  const decodedBytes = width * height * samples * (bitDepth === 16 ? 2 : 1) * (interlaced ? 2 : 1);
  if (decodedBytes > MAX_PNG_DECODE_BYTES) {
    throw new InvalidImage(
      `This ${width}×${height} PNG (${bitDepth}-bit${interlaced ? ', interlaced' : ''}) is too much to decode. Save it again as a normal 8-bit PNG or a JPEG, or smaller.`,
    );
  }
}
