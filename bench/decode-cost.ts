import sharp from 'sharp';
import { convertBmpToPng, renderMailPhotoSizes, renderSiteThumbnails } from '../src/imaging/index.ts';
import { buildHostileCorpus } from '../test/support/hostile-corpus.ts';
import { makeScanBombJpeg } from '../test/support/scan-bomb.ts';

export interface ImageWorkTiming {
  file: string;
  path: 'Graph upload' | 'SetMyProfilePicture' | 'Sites thumbnails';
  ms: number;
  /** 'accepted', or the refusal's message. */
  outcome: string;
}

export interface DecodeCostResult {
  files: number;
  /** Slowest first. */
  timings: ImageWorkTiming[];
  /** The slowest scan-bomb refusal (files whose name says "scan bomb"). */
  slowestBombMs: number;
}

/**
 * The image work each file of the hostile corpus costs (issue 10: no accepted or refused image may
 * cost more than 2 s), plus the heaviest photos the limits still accept (a 40 MP progressive JPEG
 * with as many scans as the decode budget allows, a 40 MP 8-bit RGBA interlaced PNG) and one just
 * past them (the same PNG at 16 bits: ~2 s to decode, refused from its header). Each
 * file goes, one at a time, through what the server runs for it: Mail's renditions as a Graph
 * upload, as SetMyProfilePicture (BMP converted first), and Sites' thumbnails (as from a remote
 * Graph endpoint).
 */
export async function benchDecodeCost(): Promise<DecodeCostResult> {
  const corpus = await buildHostileCorpus();
  const side = 6320; // 39.9 MP, under the 40 MP limit
  const files: { name: string; bytes: Buffer }[] = [
    ...corpus.items.map((item) => ({ name: item.name, bytes: item.bytes })),
    {
      name: `progressive ${side}×${side} JPEG with 36 scans (at the decode budget)`,
      bytes: makeScanBombJpeg({ width: side, height: side, scans: 36 }),
    },
    {
      name: `${side}×${side} 8-bit RGBA interlaced PNG (the heaviest PNG accepted)`,
      bytes: await flatPng(side, { depth: 8, interlaced: true }),
    },
    { name: `${side}×${side} 16-bit RGBA interlaced PNG`, bytes: await flatPng(side, { depth: 16, interlaced: true }) },
  ];
  const time = async (file: string, path: ImageWorkTiming['path'], work: () => Promise<unknown>): Promise<ImageWorkTiming> => {
    const started = performance.now();
    let outcome = 'accepted';
    try {
      await work();
    } catch (error) {
      outcome = (error as Error).message;
    }
    return { file, path, ms: performance.now() - started, outcome };
  };
  // Warm up sharp's thread pool so the first file does not pay for it.
  await renderMailPhotoSizes(corpus.known);
  const timings: ImageWorkTiming[] = [];
  for (const { name, bytes } of files) {
    timings.push(await time(name, 'Graph upload', () => renderMailPhotoSizes(bytes)));
    timings.push(
      await time(name, 'SetMyProfilePicture', async () => renderMailPhotoSizes(await convertBmpToPng(bytes), { maxBytes: 5_000_000 })),
    );
    timings.push(await time(name, 'Sites thumbnails', () => renderSiteThumbnails(bytes)));
  }
  timings.sort((a, b) => b.ms - a.ms);
  const bombs = timings.filter((t) => /scan bomb/.test(t.file));
  return { files: files.length, timings, slowestBombMs: Math.max(0, ...bombs.map((t) => t.ms)) };
}

/** A flat RGBA PNG: zlib packs it into a few hundred KB however many pixels it has. */
function flatPng(side: number, options: { depth: 8 | 16; interlaced: boolean }): Promise<Buffer> {
  const image = sharp({ create: { width: side, height: side, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } });
  return (options.depth === 16 ? image.toColourspace('rgb16') : image)
    .png({ progressive: options.interlaced, compressionLevel: 9 })
    .toBuffer();
}
