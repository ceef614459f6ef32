import { InvalidImage } from '../errors.ts';
import { decodeBmp } from './bmp.ts';
import { boundedSharp, imageWorkTimedOut, isImageWorkTimeout, withinTimeLimit } from './bounded-sharp.ts';
import { assertDecodeCostBounded } from './decode-cost.ts';
import { detectImageFormat } from './image-format.ts';
import { MAX_INPUT_PIXELS } from './mail-photo-renditions.ts';

export type SiteThumbnailSize = 'S' | 'M' | 'L';
export const SITE_THUMBNAIL_SIZES: readonly SiteThumbnailSize[] = ['S', 'M', 'L'];

export interface SiteThumbnail {
  size: SiteThumbnailSize;
  width: number;
  height: number;
  bytes: Buffer;
}

const JPEG = { quality: 88 } as const;
/** S and M are squares; L is at most 300 px on its longest side and never enlarged. */
const SQUARE_SIDE = { S: 48, M: 72 } as const;
const LARGE_LONGEST_SIDE = 300;

/**
 * Sites' three JPEG thumbnails from Mail's largest photo, decoded once: L first (shrink-on-load),
 * then M and S from L's pixels. The photo may come from a remote Graph endpoint, so it gets the same
 * bounds on decoding as an upload.
 */
export async function renderSiteThumbnails(mailPhoto: Buffer): Promise<SiteThumbnail[]> {
  assertDecodeCostBounded(mailPhoto);
  let large;
  try {
    large = await boundedSharp(mailPhoto, { failOn: 'warning', limitInputPixels: MAX_INPUT_PIXELS })
      .resize(LARGE_LONGEST_SIDE, LARGE_LONGEST_SIDE, { fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (isImageWorkTimeout(error)) throw imageWorkTimedOut();
    throw new InvalidImage('The Mail photo could not be read.');
  }
  const raw = { width: large.info.width, height: large.info.height, channels: large.info.channels };
  const encode = async (size: SiteThumbnailSize): Promise<SiteThumbnail> => {
    let image = boundedSharp(large.data, { raw });
    if (size !== 'L') image = image.resize(SQUARE_SIDE[size], SQUARE_SIDE[size], { fit: 'cover', position: 'centre' });
    const { data, info } = await withinTimeLimit(image.jpeg(JPEG).toBuffer({ resolveWithObject: true }));
    return { size, width: info.width, height: info.height, bytes: data };
  };
  return Promise.all(SITE_THUMBNAIL_SIZES.map(encode));
}

/** Initials on a colour: what Sites shows for a person with no synced photo, in every size. */
export async function renderPlaceholder(options: { initials: string; hue: number; size: SiteThumbnailSize }): Promise<SiteThumbnail> {
  const side = options.size === 'L' ? LARGE_LONGEST_SIDE : SQUARE_SIDE[options.size];
  const initials = options.initials
    .replace(/[^\p{L}\p{N}]/gu, '')
    .slice(0, 2)
    .toUpperCase();
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}" viewBox="0 0 100 100">
    <rect width="100" height="100" fill="hsl(${options.hue},45%,42%)"/>
    <text x="50" y="50" dy="0.35em" font-family="DejaVu Sans, Liberation Sans, sans-serif" font-size="40" font-weight="bold" text-anchor="middle" fill="#ffffff">${initials}</text>
  </svg>`;
  const bytes = await withinTimeLimit(boundedSharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).jpeg(JPEG).toBuffer());
  return { size: options.size, width: side, height: side, bytes };
}

/**
 * SharePoint's SetMyProfilePicture takes BMP, JPEG or PNG. BMP (which sharp cannot read) becomes a
 * PNG here; JPEG and PNG pass through for Mail to validate like any upload.
 */
export async function convertBmpToPng(bytes: Buffer): Promise<Buffer> {
  if (detectImageFormat(bytes) !== 'bmp') return bytes;
  const { width, height, pixels } = decodeBmp(bytes);
  return withinTimeLimit(
    boundedSharp(pixels, { raw: { width, height, channels: 3 } })
      .png({ compressionLevel: 1 })
      .toBuffer(),
  );
}
