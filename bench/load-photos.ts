import sharp from 'sharp';

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
export async function generatePhoneCameraPhotos(count: number): Promise<Buffer[]> {
  const photos: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const hue = (i * 47 + 20) % 360;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="3000">
      <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
        <stop offset="0" stop-color="hsl(${hue},60%,35%)"/><stop offset="1" stop-color="hsl(${(hue + 120) % 360},50%,70%)"/>
      </linearGradient></defs>
      <rect width="4000" height="3000" fill="url(#g)"/>
      <circle cx="${1500 + i * 40}" cy="1300" r="700" fill="hsl(${(hue + 60) % 360},40%,80%)"/>
      <rect x="${400 + i * 25}" y="2000" width="3000" height="600" fill="hsl(${(hue + 200) % 360},45%,40%)"/>
    </svg>`;
    const grain = await sharp({
      create: { width: 4000, height: 3000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 24 + (i % 3) } },
    })
      .raw()
      .toBuffer();
    const photo = await sharp(Buffer.from(svg))
      .composite([{ input: grain, raw: { width: 4000, height: 3000, channels: 3 }, blend: 'soft-light' }])
      .jpeg({ quality: 88 })
      .toBuffer();
    photos.push(photo);
  }
  return photos;
}

/**
 * The same JPEG with a COM segment right after SOI: other bytes (a new Mail version with its own
 * ETag, so every upload is a real change) and the same pixels (the same image work).
 */
export function withJpegComment(jpeg: Buffer, text: string): Buffer {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('not a JPEG');
  const payload = Buffer.from(text, 'latin1');
  const segment = Buffer.alloc(4);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), segment, payload, jpeg.subarray(2)]);
}
