import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createServices, type Services } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { Person } from '../src/directory/index.ts';
import { CLI_ACTOR } from '../src/identity/index.ts';

export interface SyncBenchResult {
  syncsPerSecond: number;
  rawSharpPerSecond: number;
  ratio: number;
  noOpCheckMicros: number;
}

/** The same work as renderSiteThumbnails, straight on sharp: the baseline a sync is measured against. */
async function rawSharpSiteThumbnails(photo: Buffer): Promise<Buffer[]> {
  const large = await sharp(photo)
    .resize(300, 300, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: large.info.width, height: large.info.height, channels: large.info.channels } };
  return Promise.all([
    sharp(large.data, raw).resize(48, 48).jpeg({ quality: 88 }).toBuffer(),
    sharp(large.data, raw).resize(72, 72).jpeg({ quality: 88 }).toBuffer(),
    sharp(large.data, raw).jpeg({ quality: 88 }).toBuffer(),
  ]);
}

async function timePerSecond(count: number, work: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) await work(i);
  return count / ((performance.now() - started) / 1000);
}

/**
 * One sync (fetch Mail's 648, render S/M/L, swap in one transaction) against raw sharp rendering the
 * same 648 JPEGs into S/M/L, one at a time each; then the cost of a no-op check (ETag unchanged).
 */
export async function benchSync(options: { people: number; noOpChecks: number }): Promise<SyncBenchResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-sync-'));
  const services: Services = await createServices(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
  try {
    const people: Person[] = [];
    const mailPhotos: Buffer[] = [];
    for (let i = 0; i < options.people; i++) {
      const person = await services.directory.addPerson({ userPrincipalName: `sync${i}@bench.example` });
      const upload = await sharp({
        create: { width: 800, height: 800, channels: 3, background: { r: (i * 37) % 256, g: (i * 91) % 256, b: (i * 53) % 256 } },
      })
        .composite([
          { input: { create: { width: 200, height: 200, channels: 3, background: '#fff' } }, left: (i * 13) % 600, top: (i * 29) % 600 },
        ])
        .jpeg()
        .toBuffer();
      await services.mail.setPhoto(CLI_ACTOR, person, upload, 'cli');
      mailPhotos.push((await services.mail.getRendition(CLI_ACTOR, person, 648)).bytes);
      people.push(person);
    }
    // Warm both paths once (sharp's thread pool, prepared statements) before timing.
    await rawSharpSiteThumbnails(mailPhotos[0]!);
    await services.sync.syncProfilePhoto(people[0]!, 'admin');
    await services.mail.setPhoto(CLI_ACTOR, people[0]!, await sharp(mailPhotos[1]!).negate().jpeg().toBuffer(), 'cli');

    const rawSharpPerSecond = await timePerSecond(options.people, (i) => rawSharpSiteThumbnails(mailPhotos[i]!));
    const syncsPerSecond = await timePerSecond(options.people, async (i) => {
      const result = await services.sync.syncProfilePhoto(people[i]!, 'admin');
      if (result.outcome !== 'synced') throw new Error(`sync ${i} was ${result.outcome}: ${result.error}`);
    });

    const started = performance.now();
    for (let i = 0; i < options.noOpChecks; i++) await services.sync.syncProfilePhoto(people[i % people.length]!, 'admin');
    const noOpCheckMicros = ((performance.now() - started) * 1000) / options.noOpChecks;

    return { syncsPerSecond, rawSharpPerSecond, ratio: syncsPerSecond / rawSharpPerSecond, noOpCheckMicros };
  } finally {
    await services.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
