import { ImageTooLarge, InvalidImage, UnsupportedImageType } from '../errors.ts';
import { boundedSharp, imageWorkTimedOut, isImageWorkTimeout, withinTimeLimit } from './bounded-sharp.ts';
import { assertDecodeCostBounded } from './decode-cost.ts';
import { detectImageFormat, formatName, type ImageFormat } from './image-format.ts';

/** The Microsoft Graph HD photo sizes, in pixels per side. */
export const GRAPH_PHOTO_SIZES = [48, 64, 96, 120, 240, 360, 432, 504, 648] as const;
export type GraphPhotoSize = (typeof GRAPH_PHOTO_SIZES)[number];

/** Graph's name of a size, `48x48` (any case) → 48; anything else → undefined. */
export function graphPhotoSizeOf(raw: string): GraphPhotoSize | undefined {
  const match = /^(\d{1,4})x(\d{1,4})$/i.exec(raw);
  const size = match && match[1] === match[2] ? Number(match[1]) : NaN;
  return GRAPH_PHOTO_SIZES.includes(size as GraphPhotoSize) ? (size as GraphPhotoSize) : undefined;
}

export const MAIL_PHOTO_MAX_BYTES = 4 * 1024 * 1024;
export const MAX_INPUT_PIXELS = 40_000_000;
const JPEG_QUALITY = 90;

export interface Rendition {
  size: GraphPhotoSize;
  width: number;
  height: number;
  contentType: 'image/jpeg';
  bytes: Buffer;
}

export interface MailPhotoRenditions {
  sourceFormat: ImageFormat;
  /** Largest first. */
  renditions: Rendition[];
}

export interface PrepareOptions {
  accept?: readonly ImageFormat[];
  maxBytes?: number;
}

/**
 * Validates an upload and renders the Graph sizes not larger than it: turned upright by EXIF, cropped
 * to a centred square, flattened onto white, converted to sRGB, with every metadata segment dropped.
 * The largest size is rendered from the source (letting libjpeg shrink on load); the smaller ones
 * cascade from its pixels, which is several times cheaper than decoding the source again for each.
 */
export async function renderMailPhotoSizes(bytes: Buffer, options: PrepareOptions = {}): Promise<MailPhotoRenditions> {
  const { format: sourceFormat, width, height } = await validatePhotoUpload(bytes, options);
  const side = Math.min(width, height);
  const sizes = GRAPH_PHOTO_SIZES.filter((s) => s <= side).reverse();
  const largest = sizes[0];
  if (largest === undefined) {
    throw new InvalidImage(
      `The image is ${width}×${height} pixels; a profile photo needs at least ${GRAPH_PHOTO_SIZES[0]}×${GRAPH_PHOTO_SIZES[0]}.`,
    );
  }

  const pixels = await decode(
    boundedSharp(bytes, { failOn: 'warning', limitInputPixels: MAX_INPUT_PIXELS })
      .rotate()
      .resize(largest, largest, { fit: 'cover', position: 'centre' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }),
  );
  const raw = { width: pixels.info.width, height: pixels.info.height, channels: pixels.info.channels };
  const renditions = await Promise.all(
    sizes.map(async (size): Promise<Rendition> => {
      let image = boundedSharp(pixels.data, { raw });
      if (size !== largest) image = image.resize(size, size, { kernel: 'lanczos3' });
      const jpeg = await withinTimeLimit(image.jpeg({ quality: JPEG_QUALITY }).toBuffer());
      return { size, width: size, height: size, contentType: 'image/jpeg', bytes: jpeg };
    }),
  );
  return { sourceFormat, renditions };
}

/**
 * Everything short of decoding: size, format, dimensions and what decoding would cost, each with a
 * message a person can act on.
 */
export async function validatePhotoUpload(
  bytes: Buffer,
  options: PrepareOptions = {},
): Promise<{ format: ImageFormat; width: number; height: number }> {
  const accept = options.accept ?? ['jpeg', 'png'];
  const maxBytes = options.maxBytes ?? MAIL_PHOTO_MAX_BYTES;
  const acceptedNames = accept.map(formatName).join(' or ');
  if (bytes.length === 0) throw new InvalidImage(`The photo is empty; send the bytes of a ${acceptedNames} image.`);
  if (bytes.length > maxBytes) {
    throw new ImageTooLarge(
      `The photo is ${bytes.length.toLocaleString('en')} bytes; the limit is ${formatMegabytes(maxBytes)} (${maxBytes.toLocaleString('en')} bytes).`,
    );
  }
  const format = detectImageFormat(bytes);
  if (format === 'svg') {
    throw new UnsupportedImageType(`SVG images are not accepted as profile photos; upload a ${acceptedNames} photo.`);
  }
  if (!format) throw new InvalidImage(`This file is not an image; upload a ${acceptedNames} photo.`);
  if (!accept.includes(format)) {
    throw new UnsupportedImageType(`${formatName(format)} images are not accepted here; upload a ${acceptedNames} photo.`);
  }
  const { width, height } = await readDimensions(bytes);
  if (width * height > MAX_INPUT_PIXELS) {
    throw new InvalidImage(`The image is ${width}×${height} pixels; at most ${MAX_INPUT_PIXELS / 1_000_000} megapixels are accepted.`);
  }
  assertDecodeCostBounded(bytes);
  return { format, width, height };
}

async function readDimensions(bytes: Buffer): Promise<{ width: number; height: number }> {
  // Reads the header only: the pixel limit is checked on the answer, with a message that gives the size.
  const meta = await decode(boundedSharp(bytes, { limitInputPixels: false }).metadata());
  if (!meta.width || !meta.height) throw new InvalidImage('The image could not be read: its size is missing.');
  return { width: meta.width, height: meta.height };
}

/** sharp's errors become one clear InvalidImage; what libvips said goes along for the log. */
async function decode<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (isImageWorkTimeout(error)) throw imageWorkTimedOut();
    const detail = error instanceof Error ? error.message : String(error);
    if (/pixel limit/i.test(detail)) throw new InvalidImage(`The image has more than ${MAX_INPUT_PIXELS / 1_000_000} megapixels.`);
    throw new InvalidImage('The image could not be read: the file is damaged or incomplete.');
  }
}

function formatMegabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
