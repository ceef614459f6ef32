import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildHttpApp, createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { CLI_ACTOR } from '../src/identity/index.ts';
import { peakRssDuring, rawSharpCascade, throughput } from './bench-photos.ts';

export interface UploadBenchResult {
  rawSharpPerSecond: number;
  uploadsPerSecond: number;
  ratio: number;
  startRssMb: number;
  peakRssMb: number;
}

/** 12 MP JPEG uploads through the real server's Graph API, 2 in flight, against raw sharp doing the same cascade. */
export async function benchUploads(photos: Buffer[]): Promise<UploadBenchResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-upload-'));
  const services = await createServices(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' }));
  const app = await buildHttpApp(services);
  try {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const tokens: string[] = [];
    for (let i = 0; i < photos.length; i++) {
      const person = await services.directory.addPerson({ userPrincipalName: `upload${i}@bench.example` });
      tokens.push((await services.identity.createApiToken(CLI_ACTOR, person, 'bench')).token);
    }
    const upload = async (photo: Buffer, i: number) => {
      const response = await fetch(`${address}/v1.0/me/photo/$value`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${tokens[i]}`, 'content-type': 'image/jpeg' },
        body: new Uint8Array(photo),
      });
      if (response.status !== 200) throw new Error(`upload ${i} answered ${response.status}: ${await response.text()}`);
    };
    // Warm up both paths (sharp's thread pool, the HTTP connection pool).
    await rawSharpCascade(photos[0]!);
    await upload(photos[0]!, 0);

    const rawSharpPerSecond = await throughput(photos, 2, (photo) => rawSharpCascade(photo));
    const { result: uploadsPerSecond, startRssMb, peakRssMb } = await peakRssDuring(() => throughput(photos, 2, upload));
    return { rawSharpPerSecond, uploadsPerSecond, ratio: uploadsPerSecond / rawSharpPerSecond, startRssMb, peakRssMb };
  } finally {
    await app.close();
    await services.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
