import sharp from 'sharp';
import { generateCameraPhotos } from './bench-photos.ts';

/**
 * A small distinct portrait-like JPEG for the seeded people: 400–800 px a side, its own colours and
 * shapes, so every person's Mail photo, renditions and Sites thumbnails are different bytes.
 */
export async function seedPortrait(index: number): Promise<Buffer> {
  const side = 400 + ((index * 83) % 401);
  const hue = (index * 37) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}">
    <defs><radialGradient id="g" cx="0.5" cy="0.4" r="0.7">
      <stop offset="0" stop-color="hsl(${hue},55%,75%)"/><stop offset="1" stop-color="hsl(${(hue + 90) % 360},45%,30%)"/>
    </radialGradient></defs>
    <rect width="${side}" height="${side}" fill="url(#g)"/>
    <circle cx="${side / 2}" cy="${side * 0.4}" r="${side * 0.18}" fill="hsl(${(hue + 30) % 360},35%,65%)"/>
    <ellipse cx="${side / 2}" cy="${side * 0.95}" rx="${side * 0.36}" ry="${side * 0.3}" fill="hsl(${(hue + 210) % 360},40%,35%)"/>
    <text x="12" y="${side - 14}" font-size="${Math.round(side / 14)}" fill="#fff">load ${index}</text>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer();
}

/**
 * Distinct 12-megapixel (4000×3000) JPEGs of a phone camera's size on disk (about 2.5–3 MB, under the
 * 4 MB Graph limit): the scene of bench-photos' generateCameraPhotos, with sensor-like grain strong
 * enough that the entropy-coded data — what the server has to receive, hash and decode — is realistic.
 * (generateCameraPhotos' own photos compress to about 0.3 MB; LOAD_PHOTOS=light uses those.)
 */
export function generatePhoneCameraPhotos(count: number): Promise<Buffer[]> {
  return generateCameraPhotos(count, { grainSigma: (i) => 24 + (i % 3), quality: 88, hueOffset: 20 });
}
