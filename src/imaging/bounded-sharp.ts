import { createRequire } from 'node:module';
import type { default as SharpModule, Sharp, SharpOptions } from 'sharp';
import { InvalidImage } from '../errors.ts';

let loadedSharp: typeof SharpModule | undefined;

/**
 * sharp, loaded at the first image work: loading it (and libvips) is a tenth of a CLI command's
 * start-up, and most commands (`users list`, `audit`) never touch an image.
 */
function sharp(): typeof SharpModule {
  if (!loadedSharp) {
    loadedSharp = createRequire(import.meta.url)('sharp') as typeof SharpModule;
    // libvips' operation cache pays off when the same image is processed again; uploads never are, and
    // the cache held on to decoded 12 MP frames (peak RSS in the upload benchmark fell by about 100 MB).
    loadedSharp.cache(false);
  }
  return loadedSharp;
}

/**
 * The wall-clock limit of every sharp pipeline: the goal is that no image costs more than 2 s of
 * image work (issue 10). The checks before decoding (pixels, JPEG scans) keep every image we accept
 * well below it; this is the backstop for whatever they miss. libvips checks the clock between
 * tiles, so work that happens before the first tile (a progressive JPEG's whole entropy decode) is
 * not cut short by it — which is why the scans are counted first.
 */
export const IMAGE_WORK_TIMEOUT_SECONDS = 2;

/** `sharp(…)` with the time limit set; the only way this module starts a pipeline. */
export function boundedSharp(input: Buffer, options?: SharpOptions): Sharp;
export function boundedSharp(options: SharpOptions): Sharp;
export function boundedSharp(input: Buffer | SharpOptions, options?: SharpOptions): Sharp {
  const image = Buffer.isBuffer(input) ? sharp()(input, options) : sharp()(input);
  return image.timeout({ seconds: IMAGE_WORK_TIMEOUT_SECONDS });
}

/** sharp's error for a pipeline the time limit stopped ("timeout: 7% complete"). */
export function isImageWorkTimeout(error: unknown): boolean {
  return error instanceof Error && /^timeout: \d+% complete/.test(error.message);
}

export function imageWorkTimedOut(): InvalidImage {
  return new InvalidImage(
    `Processing this image took more than ${IMAGE_WORK_TIMEOUT_SECONDS} seconds and was stopped. Save it again as a normal JPEG or PNG, or smaller, and try again.`,
  );
}

/** Awaits a pipeline that only encodes our own pixels: a timeout is the client's 4xx, anything else a bug. */
export async function withinTimeLimit<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (isImageWorkTimeout(error)) throw imageWorkTimedOut();
    throw error;
  }
}
