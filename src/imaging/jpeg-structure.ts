export interface JpegComponent {
  id: number;
  /** Horizontal and vertical sampling factors (1–4). */
  h: number;
  v: number;
}

export interface JpegFrame {
  /** The SOFn marker byte: 0xC0 baseline, 0xC2 progressive, … */
  marker: number;
  width: number;
  height: number;
  components: JpegComponent[];
}

export interface JpegStructure {
  /** The first frame header (SOFn), when there is one. */
  frame?: JpegFrame;
  /** The component ids of each scan (SOS), in file order. */
  scans: number[][];
  /** The walk reached the end-of-image marker (false: the bytes ended first). */
  complete: boolean;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const TEM = 0x01;
const isRestart = (marker: number) => marker >= 0xd0 && marker <= 0xd7;
const isFrameHeader = (marker: number) => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/**
 * Walks a JPEG's marker segments without decoding anything, to see what a decoder would be asked to
 * do: the frame size and sampling, and every scan. It reads the way libjpeg does, so a file cannot
 * hide scans from it that the decoder would still run: stray bytes between segments are skipped up
 * to the next 0xFF, any number of 0xFF fill bytes may precede a marker, APPn and COM payloads are
 * skipped by their length (an EXIF thumbnail's markers are not the image's), and entropy-coded data
 * ends at the first 0xFF that is neither a stuffed 0x00 nor a restart marker. It stops at EOI, where
 * the decoder stops, or where the bytes end.
 */
export function readJpegStructure(bytes: Uint8Array): JpegStructure {
  const structure: JpegStructure = { scans: [], complete: false };
  if (bytes[0] !== 0xff || bytes[1] !== SOI) return structure;
  const u16 = (at: number) => (bytes[at]! << 8) | bytes[at + 1]!;
  let at = 2;
  for (;;) {
    // The next marker: skip stray bytes, then the fill, as libjpeg's next_marker does.
    at = bytes.indexOf(0xff, at);
    if (at < 0) return structure;
    while (bytes[at] === 0xff) at++;
    if (at >= bytes.length) return structure;
    const marker = bytes[at++]!;
    if (marker === 0x00 || marker === SOI || marker === TEM || isRestart(marker)) continue;
    if (marker === EOI) {
      structure.complete = true;
      return structure;
    }
    if (at + 2 > bytes.length) return structure;
    const length = u16(at);
    // libjpeg refuses such a segment; nothing after it is decoded.
    if (length < 2) return structure;
    const body = at + 2;
    const end = at + length;
    // Truncated inside a segment: the decoder meets the end of the data (and stops) there too.
    if (end > bytes.length) return structure;
    if (isFrameHeader(marker) && !structure.frame) structure.frame = readFrameHeader(bytes, marker, body, end);
    if (marker !== SOS) {
      at = end;
      continue;
    }
    readScanHeader(bytes, body, end, structure);
    at = endOfEntropyData(bytes, end);
  }
}

function readFrameHeader(bytes: Uint8Array, marker: number, body: number, end: number): JpegFrame | undefined {
  if (end - body < 6) return undefined;
  const height = (bytes[body + 1]! << 8) | bytes[body + 2]!;
  const width = (bytes[body + 3]! << 8) | bytes[body + 4]!;
  const count = bytes[body + 5]!;
  const components: JpegComponent[] = [];
  for (let i = 0, at = body + 6; i < count && at + 3 <= end; i++, at += 3) {
    components.push({ id: bytes[at]!, h: bytes[at + 1]! >> 4, v: bytes[at + 1]! & 0x0f });
  }
  return { marker, width, height, components };
}

function readScanHeader(bytes: Uint8Array, body: number, end: number, structure: JpegStructure): void {
  if (body >= end) return;
  const count = bytes[body]!;
  const ids: number[] = [];
  for (let i = 0, at = body + 1; i < count && at < end; i++, at += 2) ids.push(bytes[at]!);
  structure.scans.push(ids);
}

/** Where the entropy-coded data that starts at `from` ends: at the next marker other than RSTn. */
function endOfEntropyData(bytes: Uint8Array, from: number): number {
  let at = from;
  for (;;) {
    at = bytes.indexOf(0xff, at);
    if (at < 0) return bytes.length;
    let next = at + 1;
    while (bytes[next] === 0xff) next++;
    if (next >= bytes.length) return bytes.length;
    const code = bytes[next]!;
    if (code === 0x00 || isRestart(code)) {
      at = next + 1;
      continue;
    }
    return at;
  }
}
