import sharp from 'sharp';

const GRAPH_SIZES = [648, 504, 432, 360, 240, 120, 96, 64, 48];

/** What the server's imaging does for an upload, straight on sharp: the baseline. */
export async function rawSharpCascade(photo: Buffer): Promise<Buffer[]> {
  const meta = await sharp(photo).metadata();
  const largest = GRAPH_SIZES.find((s) => s <= Math.min(meta.width!, meta.height!))!;
  const pixels = await sharp(photo, { failOn: 'warning', limitInputPixels: 40_000_000 })
    .rotate()
    .resize(largest, largest, { fit: 'cover', position: 'centre' })
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: pixels.info.width, height: pixels.info.height, channels: pixels.info.channels } };
  return Promise.all(
    GRAPH_SIZES.filter((s) => s <= largest).map((size) => {
      let image = sharp(pixels.data, raw);
      if (size !== largest) image = image.resize(size, size, { kernel: 'lanczos3' });
      return image.jpeg({ quality: 90 }).toBuffer();
    }),
  );
}

export interface CameraPhotoOptions {
  /** Strength of the sensor-like grain: it decides how large the file is (6: about 0.3 MB). */
  grainSigma?: (index: number) => number;
  quality?: number;
  /** Shifts every photo's colours, so two sets made with the same count differ. */
  hueOffset?: number;
}

/** Distinct 12-megapixel (4000×3000) JPEGs: a gradient, shapes and grain, each in its own colours. */
export async function generateCameraPhotos(count: number, options: CameraPhotoOptions = {}): Promise<Buffer[]> {
  const { grainSigma = () => 6, quality = 82, hueOffset = 0 } = options;
  const photos: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const hue = (i * 47 + hueOffset) % 360;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="3000">
      <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
        <stop offset="0" stop-color="hsl(${hue},60%,35%)"/><stop offset="1" stop-color="hsl(${(hue + 120) % 360},50%,70%)"/>
      </linearGradient></defs>
      <rect width="4000" height="3000" fill="url(#g)"/>
      <circle cx="${1500 + i * 40}" cy="1300" r="700" fill="hsl(${(hue + 60) % 360},40%,80%)"/>
      <rect x="${400 + i * 25}" y="2000" width="3000" height="600" fill="hsl(${(hue + 200) % 360},45%,40%)"/>
    </svg>`;
    const grain = await sharp({
      create: {
        width: 4000,
        height: 3000,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: grainSigma(i) },
      },
    })
      .raw()
      .toBuffer();
    const photo = await sharp(Buffer.from(svg))
      .composite([{ input: grain, raw: { width: 4000, height: 3000, channels: 3 }, blend: 'soft-light' }])
      .jpeg({ quality })
      .toBuffer();
    photos.push(photo);
  }
  return photos;
}

/**
 * A copy of a JPEG with a comment segment (COM, 0xFFFE) right after the start-of-image marker: other
 * bytes, so another content hash (ETag, a new Mail version), and the same pixels, so the same image work.
 */
export function withJpegComment(jpeg: Buffer, text: string): Buffer {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('not a JPEG (no SOI marker)');
  const body = Buffer.from(text, 'latin1');
  if (body.length > 65533) throw new Error('JPEG comment too long');
  const header = Buffer.from([0xff, 0xfe, 0, 0]);
  header.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, body, jpeg.subarray(2)]);
}

/** Runs `work` over the items with `inFlight` at a time; returns items per second. */
export async function throughput<T>(
  items: readonly T[],
  inFlight: number,
  work: (item: T, index: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return items.length / ((performance.now() - started) / 1000);
}

/** Samples this process's resident memory while `work` runs; returns it at the start and at its peak, in MB. */
export async function peakRssDuring<T>(work: () => Promise<T>): Promise<{ result: T; startRssMb: number; peakRssMb: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, startRssMb: start / 1024 / 1024, peakRssMb: peak / 1024 / 1024 };
  } finally {
    clearInterval(timer);
  }
}
