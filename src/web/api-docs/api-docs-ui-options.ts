import fs from 'node:fs';
import path from 'node:path';
import type { FastifySwaggerUiOptions } from '@fastify/swagger-ui';
import { securityHeaders } from '../security-headers.ts';
import { WEB_FILES_DIR } from '../web-files.ts';

const HERE = path.join(WEB_FILES_DIR, 'api-docs');
const read = (name: string): Buffer => fs.readFileSync(path.join(HERE, name));

/**
 * `/docs` as part of photosync rather than a stock Swagger UI: its title, icon and app bar with the
 * way back to the portal, and the portal's own content policy (no CDN, no inline script or style).
 * The plain layout leaves out Swagger UI's top bar, whose Swagger logo carries an inline `<style>`
 * that a strict policy blocks (the console error people saw) — and whose URL box has no use here.
 */
export function apiDocsUiOptions(options: { https: boolean }): FastifySwaggerUiOptions {
  return {
    routePrefix: '/docs',
    staticCSP: securityHeaders(options)['content-security-policy'],
    uiConfig: { layout: 'BaseLayout', deepLinking: true, docExpansion: 'list', validatorUrl: null },
    theme: {
      title: 'photosync API documentation',
      css: [{ filename: 'photosync.css', content: read('api-docs.css').toString('utf8') }],
      js: [{ filename: 'photosync.js', content: read('api-docs-bar.js').toString('utf8') }],
      favicon: [
        {
          filename: 'favicon.svg',
          rel: 'icon',
          sizes: 'any',
          type: 'image/svg+xml',
          content: fs.readFileSync(path.join(HERE, '..', 'assets', 'favicon.svg')),
        },
      ],
    },
  };
}
