/** A 24-bit uncompressed BMP, written by hand because sharp cannot write BMP. */
export function makeBmp(width: number, height: number, pixel: (x: number, y: number) => [number, number, number], options: { topDown?: boolean } = {}): Buffer {
  const rowSize = Math.ceil((24 * width) / 32) * 4;
  const dataSize = rowSize * height;
  const bmp = Buffer.alloc(54 + dataSize);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(bmp.length, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(width, 18);
  bmp.writeInt32LE(options.topDown ? -height : height, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  bmp.writeUInt32LE(dataSize, 34);
  for (let y = 0; y < height; y++) {
    const row = 54 + (options.topDown ? y : height - 1 - y) * rowSize;
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      bmp[row + x * 3] = b;
      bmp[row + x * 3 + 1] = g;
      bmp[row + x * 3 + 2] = r;
    }
  }
  return bmp;
}
