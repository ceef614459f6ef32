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
 * Refuses, before any decoding, an image whose decoding would cost far more than its size suggests.
 * Only JPEG needs this: a PNG's cost follows its pixels, which the pixel limit bounds (the worst, a
 * 40 MP 16-bit RGBA interlaced PNG, decodes in ~1.5 s), and sharp's default limits refuse huge
 * ancillary chunks. Other formats are refused before they are decoded.
 */
export function assertDecodeCostBounded(bytes: Uint8Array): void {
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
      Math.ceil(Math.ceil((frame.width * Math.max(1, c.h)) / hMax) / 8) * Math.ceil(Math.ceil((frame.height * Math.max(1, c.v)) / vMax) / 8),
    ]),
  );
  // A scan naming a component the frame lacks is an error for the decoder; count it as the largest.
  const largest = Math.max(0, ...blocksOf.values());
  let total = 0;
  for (const ids of scans) for (const id of ids) total += blocksOf.get(id) ?? largest;
  return total;
}
