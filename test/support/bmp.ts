export interface BmpOptions {
  /** Rows stored first to last (a negative height), instead of BMP's usual bottom-up. */
  topDown?: boolean;
  /** 24 (BGR) or 32 (BGRA, alpha 255); 24 unless told. */
  bitsPerPixel?: 24 | 32;
  /** 32 bits only: BI_BITFIELDS with the usual masks after the header, as many Windows tools write it. */
  bitfields?: boolean;
}

/** An uncompressed BMP, written by hand because sharp cannot write BMP. */
export function makeBmp(
  width: number,
  height: number,
  pixel: (x: number, y: number) => [number, number, number],
  options: BmpOptions = {},
): Buffer {
  const bitsPerPixel = options.bitsPerPixel ?? 24;
  const bytesPerPixel = bitsPerPixel / 8;
  const bitfields = bitsPerPixel === 32 && options.bitfields === true;
  const dataOffset = bitfields ? 54 + 12 : 54;
  const rowSize = Math.ceil((bitsPerPixel * width) / 32) * 4;
  const dataSize = rowSize * height;
  const bmp = Buffer.alloc(dataOffset + dataSize);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(bmp.length, 2);
  bmp.writeUInt32LE(dataOffset, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(width, 18);
  bmp.writeInt32LE(options.topDown ? -height : height, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(bitsPerPixel, 28);
  bmp.writeUInt32LE(bitfields ? 3 : 0, 30);
  bmp.writeUInt32LE(dataSize, 34);
  if (bitfields) {
    bmp.writeUInt32LE(0x00ff0000, 54);
    bmp.writeUInt32LE(0x0000ff00, 58);
    bmp.writeUInt32LE(0x000000ff, 62);
  }
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (options.topDown ? y : height - 1 - y) * rowSize;
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      const at = row + x * bytesPerPixel;
      bmp[at] = b;
      bmp[at + 1] = g;
      bmp[at + 2] = r;
      if (bytesPerPixel === 4) bmp[at + 3] = 255;
    }
  }
  return bmp;
}
