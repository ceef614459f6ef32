import sharp from 'sharp';

/** Test photos drawn by sharp: a solid colour with a contrasting top-left quadrant, so orientation is checkable. */
export async function makePhoto(
  format: 'jpeg' | 'png',
  width: number,
  height: number,
  options: { color?: string; marker?: string } = {},
): Promise<Buffer> {
  const base = sharp({ create: { width, height, channels: 3, background: options.color ?? '#3366cc' } });
  const marker = await sharp({
    create: { width: Math.ceil(width / 2), height: Math.ceil(height / 2), channels: 3, background: options.marker ?? '#ff0000' },
  })
    .png()
    .toBuffer();
  const image = base.composite([{ input: marker, left: 0, top: 0 }]);
  return format === 'jpeg' ? image.jpeg({ quality: 90 }).toBuffer() : image.png().toBuffer();
}

/** The mean colour of an image, to tell photos apart by their pixels. */
export async function meanColor(bytes: Buffer): Promise<[number, number, number]> {
  const { channels } = await sharp(bytes).stats();
  return [channels[0]!.mean, channels[1]!.mean, channels[2]!.mean].map(Math.round) as [number, number, number];
}

export async function pixelAt(bytes: Buffer, x: number, y: number): Promise<[number, number, number]> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}
