// Compiles src/ into dist/ so commands and the server start without compiling TypeScript at run
// time. Run by `npm install` (prepare), `npm start` and `npm test`.
//
// Two bundles of the same entry, and bin/photosync.js loads one per process:
// - dist/cli/: split at the lazy imports, so a command loads only what it needs (`--help` none of
//   the database, image or web code);
// - dist/server/: one file, for `serve`. The server's hot photo reads measured about a quarter
//   slower (server CPU per request) when the same code ran from the split chunks.
import fs from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// Bundled in: pure-JS packages of many small modules, whose resolving at start-up cost the most
// (kysely alone 0.1 s; fastify, its plugins and prom-client about 0.25 s of `serve`'s start). The
// rest stay in node_modules: native addons, packages that read their own files at run time (Swagger
// UI's assets, cropperjs) or start workers from their files (pino's transports, pg-boss).
const BUNDLED = new Set([
  'kysely',
  'typebox',
  'fastify',
  '@fastify/cookie',
  '@fastify/csrf-protection',
  '@fastify/formbody',
  '@fastify/rate-limit',
  '@fastify/swagger',
  '@fastify/type-provider-typebox',
  'prom-client',
  'commander',
]);
const common = {
  entryPoints: ['src/main.ts'],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(pkg.dependencies).filter((name) => !BUNDLED.has(name)),
  sourcemap: true,
  // Bundled CommonJS packages require Node's own modules; an ES module has no require of its own.
  banner: {
    js: "import { createRequire as createRequireOfBundle } from 'node:module'; const require = createRequireOfBundle(import.meta.url);",
  },
  logLevel: 'warning',
};

fs.rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await Promise.all([
  build({ ...common, outdir: 'dist/cli', splitting: true }),
  build({ ...common, outdir: 'dist/server', splitting: false }),
]);
