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
// (kysely alone 0.1 s). The rest stay in node_modules: native addons, and packages that read their
// own files at run time (Swagger UI's assets).
const BUNDLED = new Set(['kysely', 'typebox']);
const common = {
  entryPoints: ['src/main.ts'],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(pkg.dependencies).filter((name) => !BUNDLED.has(name)),
  sourcemap: true,
  logLevel: 'warning',
};

fs.rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await Promise.all([
  build({ ...common, outdir: 'dist/cli', splitting: true }),
  build({ ...common, outdir: 'dist/server', splitting: false }),
]);
