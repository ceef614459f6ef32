import { InvalidImage } from '../errors.ts';

export interface DecodedBitmap {
  width: number;
  height: number;
  /** RGB, 3 bytes a pixel, rows top-down. */
  pixels: Buffer;
}

// Decoded in JavaScript on the main thread (sharp has no BMP reader): 5 MP (an 8-bit BMP at the
// 5,000,000-byte limit of SetMyProfilePicture) decodes in tens of milliseconds; 40 MP took 400 ms.
const MAX_BMP_PIXELS = 5_000_000;

/**
 * Decodes an uncompressed Windows BMP (1, 4, 8, 24 or 32 bits a pixel; BI_RGB or BI_BITFIELDS with
 * the usual masks), rows bottom-up or top-down. sharp cannot read BMP, and SharePoint's
 * SetMyProfilePicture accepts it.
 */
export function decodeBmp(bytes: Buffer): DecodedBitmap {
  const fail = (why: string): never => {
    throw new InvalidImage(`The BMP image cannot be read: ${why}.`);
  };
  if (bytes.length < 54 || bytes.toString('latin1', 0, 2) !== 'BM') fail('the header is missing');
  const dataOffset = bytes.readUInt32LE(10);
  const headerSize = bytes.readUInt32LE(14);
  if (headerSize < 40) fail('only BMP files with a Windows (v3 or later) header are accepted');
  const width = bytes.readInt32LE(18);
  const rawHeight = bytes.readInt32LE(22);
  const bitsPerPixel = bytes.readUInt16LE(28);
  const compression = bytes.readUInt32LE(30);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height <= 0) fail('its size is invalid');
  if (width * height > MAX_BMP_PIXELS) fail(`it has more than ${MAX_BMP_PIXELS / 1_000_000} megapixels`);
  if (![1, 4, 8, 24, 32].includes(bitsPerPixel)) fail(`${bitsPerPixel} bits a pixel is not supported`);
  if (compression !== 0 && !(compression === 3 && bitsPerPixel === 32)) fail('compressed BMP files are not supported');

  const rowSize = Math.ceil((bitsPerPixel * width) / 32) * 4;
  if (dataOffset + rowSize * height > bytes.length) fail('the file is incomplete');

  let palette: Buffer | undefined;
  if (bitsPerPixel <= 8) {
    const colours = bytes.readUInt32LE(46) || 1 << bitsPerPixel;
    const paletteStart = 14 + headerSize;
    if (paletteStart + colours * 4 > dataOffset) fail('its colour table is damaged');
    palette = bytes.subarray(paletteStart, paletteStart + colours * 4);
  }

  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * rowSize;
    for (let x = 0; x < width; x++) {
      const out = (y * width + x) * 3;
      let b: number, g: number, r: number;
      if (bitsPerPixel >= 24) {
        const at = row + x * (bitsPerPixel / 8);
        b = bytes[at]!;
        g = bytes[at + 1]!;
        r = bytes[at + 2]!;
      } else {
        const bitOffset = x * bitsPerPixel;
        const byte = bytes[row + (bitOffset >> 3)]!;
        const index = (byte >> (8 - bitsPerPixel - (bitOffset & 7))) & ((1 << bitsPerPixel) - 1);
        if (index * 4 + 2 >= palette!.length) fail('a pixel points outside the colour table');
        b = palette![index * 4]!;
        g = palette![index * 4 + 1]!;
        r = palette![index * 4 + 2]!;
      }
      pixels[out] = r;
      pixels[out + 1] = g;
      pixels[out + 2] = b;
    }
  }
  return { width, height, pixels };
}
