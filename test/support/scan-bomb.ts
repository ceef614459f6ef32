/**
 * Decode-cost bombs: valid progressive JPEGs with thousands of scans, written byte by byte (no
 * encoder we can call writes a custom scan script; jpegtran -scans is not installed everywhere).
 *
 * The image is flat grey (every coefficient zero), so each scan costs a few bytes: an end-of-band
 * run covers up to 32,767 blocks. The decoder still visits every block of the component in every
 * scan, so the work grows with scans × blocks while the file stays small — the shape of the bomb
 * from issue 10 (3000×3000, ~2,600 scans, ~120 KB, 11–15 s of decoding).
 *
 * The scan script is one libjpeg accepts without a warning: a DC scan, then for each component and
 * each AC coefficient a first scan at point transform Al and its refinements Al−1 … 0 (at most 14
 * scans per coefficient, as Al ≤ 13 for 8-bit samples).
 */

export interface ScanBombOptions {
  width: number;
  height: number;
  /** Scans in all, the DC scan included; at most 1 + 63 × 14 × components. */
  scans: number;
  /** 1 (greyscale) or 3 (YCbCr, no subsampling). Default 3. */
  components?: 1 | 3;
  /** A restart interval in blocks (DRI), to exercise restart markers; none by default. */
  restartInterval?: number;
}

const MAX_POINT_TRANSFORM = 13;
const SCANS_PER_COEFFICIENT = MAX_POINT_TRANSFORM + 1;

/** The most scans `makeScanBombJpeg` can write for so many components. */
export function maxBombScans(components: 1 | 3 = 3): number {
  return 1 + 63 * SCANS_PER_COEFFICIENT * components;
}

export function makeScanBombJpeg(options: ScanBombOptions): Buffer {
  const components = options.components ?? 3;
  const { width, height, scans } = options;
  if (scans < 1 || scans > maxBombScans(components)) throw new Error(`scans must be 1…${maxBombScans(components)}`);
  const blocksWide = Math.ceil(width / 8);
  const blocksHigh = Math.ceil(height / 8);
  const blocks = blocksWide * blocksHigh;
  const restart = options.restartInterval ?? 0;

  const parts: Buffer[] = [Buffer.from([0xff, 0xd8])];
  parts.push(segment(0xdb, Buffer.concat([Buffer.from([0x00]), Buffer.alloc(64, 1)])));
  const sof = Buffer.alloc(6 + 3 * components);
  sof[0] = 8;
  sof.writeUInt16BE(height, 1);
  sof.writeUInt16BE(width, 3);
  sof[5] = components;
  for (let c = 0; c < components; c++) sof.set([c + 1, 0x11, 0], 6 + 3 * c);
  parts.push(segment(0xc2, sof));
  // DC: one symbol (difference category 0) with the one-bit code 0.
  parts.push(segment(0xc4, huffmanTable(0x00, [[1, [0x00]]])));
  // AC: the end-of-band runs EOB0 … EOB14 (symbols 0x00 … 0xE0), 4-bit codes.
  parts.push(segment(0xc4, huffmanTable(0x10, [[4, Array.from({ length: 15 }, (_, r) => r << 4)]])));
  if (restart > 0) {
    const dri = Buffer.alloc(2);
    dri.writeUInt16BE(restart);
    parts.push(segment(0xdd, dri));
  }

  // The DC scan, all components interleaved: a zero difference for every block.
  parts.push(
    scanHeader(
      Array.from({ length: components }, (_, c) => c + 1),
      0,
      0,
      0,
      0,
    ),
  );
  parts.push(entropyData(blocks * components, restart > 0 ? restart * components : 0, (bits) => bits.write(0, 1)));

  let left = scans - 1;
  for (let c = 1; c <= components && left > 0; c++) {
    for (let k = 1; k <= 63 && left > 0; k++) {
      const passes = Math.min(SCANS_PER_COEFFICIENT, left);
      left -= passes;
      const first = passes - 1;
      parts.push(scanHeader([c], k, k, 0, first), endOfBandRuns(blocks, restart));
      for (let al = first - 1; al >= 0; al--) parts.push(scanHeader([c], k, k, al + 1, al), endOfBandRuns(blocks, restart));
    }
  }
  parts.push(Buffer.from([0xff, 0xd9]));
  return Buffer.concat(parts);
}

function segment(marker: number, body: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

/** A DHT body: class/id, then codes as [length, symbols] groups (canonical Huffman). */
function huffmanTable(classAndId: number, groups: [number, number[]][]): Buffer {
  const counts = Buffer.alloc(16);
  const symbols: number[] = [];
  for (const [length, values] of groups) {
    counts[length - 1] = values.length;
    symbols.push(...values);
  }
  return Buffer.concat([Buffer.from([classAndId]), counts, Buffer.from(symbols)]);
}

function scanHeader(componentIds: number[], ss: number, se: number, ah: number, al: number): Buffer {
  const body = Buffer.alloc(1 + 2 * componentIds.length + 3);
  body[0] = componentIds.length;
  componentIds.forEach((id, i) => body.set([id, 0x00], 1 + 2 * i));
  body.set([ss, se, (ah << 4) | al], 1 + 2 * componentIds.length);
  return segment(0xda, body);
}

/** One AC scan of a component whose coefficients are all zero: end-of-band runs over every block. */
function endOfBandRuns(blocks: number, restart: number): Buffer {
  // An end-of-band run may not cross a restart marker, so each interval gets its own runs.
  const interval = restart > 0 ? restart : blocks;
  const chunks: Buffer[] = [];
  for (let start = 0, marker = 0; start < blocks; start += interval, marker = (marker + 1) % 8) {
    if (start > 0) chunks.push(Buffer.from([0xff, 0xd0 + ((marker + 7) % 8)]));
    const bits = new BitWriter();
    let run = Math.min(interval, blocks - start);
    while (run > 0) {
      const take = Math.min(run, 0x7fff);
      const r = 31 - Math.clz32(take);
      bits.write(r, 4);
      if (r > 0) bits.write(take - (1 << r), r);
      run -= take;
    }
    chunks.push(bits.finish());
  }
  return Buffer.concat(chunks);
}

/** Entropy-coded data with a restart marker every `restartUnits` calls of `unit` (0: none). */
function entropyData(units: number, restartUnits: number, unit: (bits: BitWriter) => void): Buffer {
  const chunks: Buffer[] = [];
  let bits = new BitWriter();
  let marker = 0;
  for (let i = 0; i < units; i++) {
    if (restartUnits > 0 && i > 0 && i % restartUnits === 0) {
      chunks.push(bits.finish(), Buffer.from([0xff, 0xd0 + marker]));
      marker = (marker + 1) % 8;
      bits = new BitWriter();
    }
    unit(bits);
  }
  chunks.push(bits.finish());
  return Buffer.concat(chunks);
}

/** MSB-first bits with JPEG byte stuffing (0xFF is followed by 0x00), padded with ones. */
class BitWriter {
  private readonly bytes: number[] = [];
  private current = 0;
  private used = 0;

  write(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) {
      this.current = (this.current << 1) | ((value >> i) & 1);
      if (++this.used === 8) this.flush();
    }
  }

  finish(): Buffer {
    if (this.used > 0) this.write(0xff >> this.used, 8 - this.used);
    return Buffer.from(this.bytes);
  }

  private flush(): void {
    this.bytes.push(this.current);
    if (this.current === 0xff) this.bytes.push(0x00);
    this.current = 0;
    this.used = 0;
  }
}
