import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { CLI_ACTOR } from '../src/identity/index.ts';
import { childEnv, createScratchPostgres, freePort, percentile, sleep, startServerChild, stopChild } from './bench-support.ts';

export interface OnChangeLatencyResult {
  changes: number;
  /** From the PUT's 200 (the commit acknowledged) to userphoto.aspx?size=L showing the new ETag, in ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The PUT itself (validate, render the Graph sizes, commit), in ms. */
  putP50Ms: number;
  /** Polls per change, on average (a poll every ~5 ms). */
  pollsPerChange: number;
  serverExitCode: number | null;
}

const POLL_EVERY_MS = 5;
const GIVE_UP_AFTER_MS = 30_000;
const ADMIN_PASSWORD = 'bench-admin-password-0123456789';

/** Distinct small JPEGs (400×400): each its own background and a white square in its own place. */
export async function generateSmallPhotos(count: number): Promise<Buffer[]> {
  const photos: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const background = { r: (i * 37) % 256, g: (i * 91 + 40) % 256, b: (i * 53 + 80) % 256 };
    photos.push(
      await sharp({ create: { width: 400, height: 400, channels: 3, background } })
        .composite([
          { input: { create: { width: 100, height: 100, channels: 3, background: '#ffffff' } }, left: (i * 13) % 300, top: (i * 29) % 300 },
        ])
        .jpeg({ quality: 85 })
        .toBuffer(),
    );
  }
  return photos;
}

/**
 * On-change mode end to end: the real server in a child process (SYNC_MODE=on-change, LOG_LEVEL=warn);
 * `changes` times, a new photo PUT through the Graph API, then the Sites photo polled anonymously
 * until its ETag changes. On PostgreSQL when `databaseUrl` is given (the queue is pg-boss there).
 */
export async function benchOnChangeLatency(options: { photos: readonly Buffer[]; databaseUrl?: string }): Promise<OnChangeLatencyResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-onchange-'));
  const dbEnv: Record<string, string> = options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {};
  let server: Awaited<ReturnType<typeof startServerChild>> | undefined;
  try {
    const upn = 'onchange@bench.example';
    const services = await createServices(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...dbEnv }));
    let token: string;
    try {
      const person = await services.directory.addPerson({ userPrincipalName: upn });
      token = (await services.identity.createApiToken(CLI_ACTOR, person, 'bench')).token;
    } finally {
      await services.close();
    }

    const port = await freePort();
    server = await startServerChild(
      ['--import', 'tsx', 'src/main.ts', 'serve'],
      childEnv({
        DATA_DIR: dataDir,
        SYNC_MODE: 'on-change',
        LOG_LEVEL: 'warn',
        PHOTOSYNC_ADMIN_PASSWORD: ADMIN_PASSWORD,
        HOST: '127.0.0.1',
        PORT: String(port),
        ...dbEnv,
      }),
    );
    const base = `http://127.0.0.1:${port}`;
    const photoUrl = `${base}/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(upn)}`;
    const sitesEtag = async (ifNoneMatch?: string): Promise<string | undefined> => {
      // Read as a signed-in viewer (the token's owner: a token never triggers a sync, so only on-change does).
      const auth = { authorization: `Bearer ${token}` };
      const response = await fetch(photoUrl, { headers: ifNoneMatch ? { ...auth, 'if-none-match': ifNoneMatch } : auth });
      await response.arrayBuffer();
      if (response.status === 304) return ifNoneMatch;
      if (response.status !== 200) throw new Error(`userphoto.aspx answered ${response.status}`);
      return response.headers.get('etag') ?? undefined;
    };
    const put = async (photo: Buffer, i: number) => {
      const response = await fetch(`${base}/v1.0/me/photo/$value`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'image/jpeg' },
        body: new Uint8Array(photo),
      });
      const body = await response.text();
      if (response.status !== 200) throw new Error(`PUT ${i} answered ${response.status}: ${body}`);
    };

    let previous = await sitesEtag();
    if (!previous) throw new Error('userphoto.aspx sent no ETag');
    const latencies: number[] = [];
    const putTimes: number[] = [];
    let polls = 0;
    for (let i = 0; i < options.photos.length; i++) {
      const putStarted = performance.now();
      await put(options.photos[i]!, i);
      const committed = performance.now();
      putTimes.push(committed - putStarted);
      for (;;) {
        polls++;
        // A conditional GET: 304 while Sites still has the previous version, 200 with the new ETag once synced.
        const etag = await sitesEtag(previous);
        if (etag !== previous) {
          latencies.push(performance.now() - committed);
          previous = etag!;
          break;
        }
        if (performance.now() - committed > GIVE_UP_AFTER_MS) {
          throw new Error(
            `change ${i}: Sites still shows ${previous} ${GIVE_UP_AFTER_MS / 1000} s after the PUT; server output: ${server.output().slice(-2000)}`,
          );
        }
        await sleep(POLL_EVERY_MS);
      }
    }
    const stopped = await stopChild(server.child);
    if (stopped.forced) throw new Error(`the server did not exit within 15 s of SIGTERM: ${server.output().slice(-2000)}`);
    return {
      changes: options.photos.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: Math.max(...latencies),
      putP50Ms: percentile(putTimes, 50),
      pollsPerChange: polls / options.photos.length,
      serverExitCode: stopped.code,
    };
  } finally {
    if (server) await stopChild(server.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The same on a scratch PostgreSQL database, dropped afterwards. */
export async function benchOnChangeLatencyPostgres(photos: readonly Buffer[]): Promise<OnChangeLatencyResult> {
  const scratch = await createScratchPostgres();
  try {
    return await benchOnChangeLatency({ photos, databaseUrl: scratch.url });
  } finally {
    await scratch.drop();
  }
}
