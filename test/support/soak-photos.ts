import sharp from 'sharp';
import { GRAPH_PHOTO_SIZES } from '../../src/imaging/index.ts';
import { photoContentEtag } from '../../src/mail/index.ts';
import type { Prng } from './mutation-fuzzer.ts';

export type Rgb = [number, number, number];

/** One upload of the soak: its bytes, the ETag Mail gives it, and what every copy of it must look like. */
export interface SoakPhoto {
  index: number;
  bytes: Buffer;
  etag: string;
  color: Rgb;
  width: number;
  height: number;
  /** The Graph sizes Mail must store for it, largest first. */
  mailSizes: number[];
  /** The side of the Sites L thumbnail (300 at most, never upscaled from Mail's largest size). */
  siteLargeSide: number;
}

const LEVELS = [24, 88, 152, 216];

/**
 * `count` solid-colour JPEGs of 200–600 px (not square: Mail crops them), each of a different colour
 * on a 4-level grid, so any two differ by at least 64 in one channel and a copy's mean colour tells
 * which upload it came from.
 */
export async function makeSoakPhotos(rng: Prng, count: number): Promise<SoakPhoto[]> {
  const grid: Rgb[] = [];
  for (const r of LEVELS) for (const g of LEVELS) for (const b of LEVELS) grid.push([r, g, b]);
  if (count > grid.length) throw new Error(`at most ${grid.length} distinct soak photos`);
  // A seeded shuffle: the same seed gives the same photos.
  for (let i = grid.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [grid[i], grid[j]] = [grid[j]!, grid[i]!];
  }
  const photos: SoakPhoto[] = [];
  for (let index = 0; index < count; index++) {
    const color = grid[index]!;
    const width = rng.int(200, 600);
    const height = rng.int(200, 600);
    const bytes = await sharp({ create: { width, height, channels: 3, background: { r: color[0], g: color[1], b: color[2] } } })
      .jpeg({ quality: 85 })
      .toBuffer();
    const side = Math.min(width, height);
    const mailSizes = GRAPH_PHOTO_SIZES.filter((s) => s <= side).reverse();
    photos.push({
      index,
      bytes,
      etag: photoContentEtag(bytes),
      color,
      width,
      height,
      mailSizes,
      siteLargeSide: Math.min(300, mailSizes[0]!),
    });
  }
  if (new Set(photos.map((p) => p.etag)).size !== photos.length) throw new Error('two soak photos have the same ETag');
  return photos;
}

/** What a stored image decodes to: its dimensions and mean colour (or why it does not decode). */
export interface Decoded {
  width: number;
  height: number;
  format: string;
  mean: Rgb;
}

/** Decodes with sharp (as strictly as the app does: failOn 'warning'); results are cached by content, so unchanged rows cost nothing. */
export class DecodeCache {
  private readonly cache = new Map<string, Promise<Decoded | { error: string }>>();

  decode(bytes: Buffer): Promise<Decoded | { error: string }> {
    const key = `${bytes.length}:${photoContentEtag(bytes)}`;
    let found = this.cache.get(key);
    if (!found) {
      found = (async () => {
        try {
          const image = sharp(bytes, { failOn: 'warning' });
          const [meta, stats] = await Promise.all([image.metadata(), image.stats()]);
          const mean = stats.channels.slice(0, 3).map((c) => Math.round(c.mean)) as Rgb;
          return { width: meta.width ?? 0, height: meta.height ?? 0, format: meta.format ?? '?', mean };
        } catch (error) {
          return { error: (error as Error).message };
        }
      })();
      if (this.cache.size > 5000) this.cache.clear();
      this.cache.set(key, found);
    }
    return found;
  }
}

/** Whether a decoded copy shows the given colour (JPEG keeps a solid colour's mean within a few units). */
export function sameColor(actual: Rgb, expected: Rgb, tolerance = 20): boolean {
  return actual.every((value, i) => Math.abs(value - expected[i]!) <= tolerance);
}
