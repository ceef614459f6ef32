import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { WEB_FILES_DIR } from './web-files.ts';

const ASSET_DIR = path.join(WEB_FILES_DIR, 'assets');
/** Files from npm packages the pages use, served under /assets like ours (the CSP allows scripts from 'self' only). */
const require = createRequire(import.meta.url);
const CROPPER_DIR = path.dirname(require.resolve('cropperjs/dist/cropper.min.js'));
const PACKAGE_ASSETS: Record<string, string> = {
  'cropper.min.js': path.join(CROPPER_DIR, 'cropper.min.js'),
  'cropper.min.css': path.join(CROPPER_DIR, 'cropper.min.css'),
};
const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The portal's few static files, read once at start: the machine serves everything itself, no CDN. */
export const registerAssetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const files = [
    ...fs.readdirSync(ASSET_DIR).map((name) => [name, path.join(ASSET_DIR, name)] as const),
    ...Object.entries(PACKAGE_ASSETS),
  ];
  for (const [name, file] of files) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const body = fs.readFileSync(file);
    app.get(`/assets/${name}`, { schema: { hide: true } }, async (_request, reply) =>
      reply.type(type).header('cache-control', 'public, max-age=300').send(body),
    );
  }
};
