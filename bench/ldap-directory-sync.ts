import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { DirectorySyncReport } from '../src/directory-sync/index.ts';
import { CLI_ACTOR } from '../src/identity/index.ts';
import { ROOT_DN, ROOT_PASSWORD, slapdSkipReason, startSlapd, type TestPerson } from '../test/support/slapd.ts';
import { createScratchPostgres, postgresUnreachable } from './bench-support.ts';

export interface LdapSyncRun {
  seconds: number;
  peoplePerSecond: number;
  report: DirectorySyncReport;
}

export interface LdapSyncBenchResult {
  dialect: 'sqlite' | 'postgres';
  entries: number;
  withPhoto: number;
  averagePhotoBytes: number;
  pageSize: number;
  first: LdapSyncRun;
  second: LdapSyncRun;
}

const PAGE_SIZE = 500;
/** Adds in flight while seeding slapd (one connection, several outstanding requests). */
const SEED_IN_FLIGHT = 8;

/** Thumbnail-sized photos as directories hold them (AD's thumbnailPhoto: 96×96, a few KB), each distinct (noise). */
async function directoryPhotos(count: number): Promise<Buffer[]> {
  const photos: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    photos.push(
      await sharp({
        create: { width: 96, height: 96, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
      })
        .jpeg({ quality: 85 })
        .toBuffer(),
    );
  }
  return photos;
}

async function timedSync(services: Awaited<ReturnType<typeof createServices>>, entries: number): Promise<LdapSyncRun> {
  const started = performance.now();
  const { report } = await services.directorySync.start(CLI_ACTOR, { dryRun: false });
  const finished = await report;
  const seconds = (performance.now() - started) / 1000;
  if (finished.error) throw new Error(`the directory sync failed: ${finished.error}`);
  return { seconds, peoplePerSecond: entries / seconds, report: finished };
}

/**
 * A 10,000-entry directory in a real slapd (a third with a small JPEG photo): the first sync
 * (everyone created, the photos imported into Mail under the default fill-when-empty policy), then
 * a second with nothing changed (every entry compared by its stable id and hashes, nothing written).
 * The services run in this process, as `photosync directory sync` runs them.
 */
export async function benchLdapDirectorySync(options: { entries: number; postgres: boolean }): Promise<LdapSyncBenchResult[] | string> {
  if (slapdSkipReason) return slapdSkipReason;
  const withPhoto = Math.ceil(options.entries / 3);
  const photos = await directoryPhotos(withPhoto);
  const slapd = await startSlapd();
  const results: LdapSyncBenchResult[] = [];
  try {
    const branch = await slapd.branch('bench');
    const people: TestPerson[] = Array.from({ length: options.entries }, (_, i) => ({
      uid: `u${i}`,
      userPrincipalName: `person${i}@bench.example`,
      displayName: `Person ${i}`,
      mail: `person${i}@bench.example`,
      ...(i % 3 === 0 && { photo: photos[i / 3]! }),
    }));
    for (let i = 0; i < people.length; i += SEED_IN_FLIGHT)
      await Promise.all(people.slice(i, i + SEED_IN_FLIGHT).map((p) => branch.add([p])));

    const dialects: ('sqlite' | 'postgres')[] = ['sqlite'];
    if (options.postgres && !(await postgresUnreachable())) dialects.push('postgres');
    for (const dialect of dialects) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-ldap-'));
      const postgres = dialect === 'postgres' ? await createScratchPostgres() : undefined;
      const services = await createServices(
        loadConfig({
          DATA_DIR: dataDir,
          LOG_LEVEL: 'error',
          ...(postgres && { DATABASE_URL: postgres.url }),
          LDAP_URL: slapd.url,
          LDAP_BIND_DN: ROOT_DN,
          LDAP_BIND_PASSWORD: ROOT_PASSWORD,
          LDAP_BASE_DN: branch.baseDn,
          LDAP_FILTER: '(objectClass=inetOrgPerson)',
          LDAP_PAGE_SIZE: String(PAGE_SIZE),
        }),
      );
      try {
        const first = await timedSync(services, options.entries);
        if (first.report.counts.created !== options.entries || first.report.photosImported !== withPhoto) {
          throw new Error(
            `the first sync did not create everyone and import every photo: ${JSON.stringify(first.report.counts)}, ${first.report.photosImported} photos`,
          );
        }
        const second = await timedSync(services, options.entries);
        if (second.report.counts.unchanged !== options.entries || second.report.photosImported !== 0) {
          throw new Error(
            `the second sync changed something: ${JSON.stringify(second.report.counts)}, ${second.report.photosImported} photos`,
          );
        }
        results.push({
          dialect,
          entries: options.entries,
          withPhoto,
          averagePhotoBytes: photos.reduce((sum, p) => sum + p.length, 0) / photos.length,
          pageSize: PAGE_SIZE,
          first,
          second,
        });
      } finally {
        await services.close();
        await postgres?.drop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    await slapd.stop();
  }
  return results;
}
