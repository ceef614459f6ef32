// Compiles src/ into dist/ (one ESM bundle, split at the lazy imports) so commands and the server
// start without compiling TypeScript at run time. Run by `npm install` (prepare), `npm start` and `npm test`.
import fs from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// Bundled in: pure-JS packages of many small modules, whose resolving at start-up cost the most
// (kysely alone 0.1 s). The rest stay in node_modules: native addons, and packages that read their
// own files at run time (Swagger UI's assets).
const BUNDLED = new Set(['kysely', 'typebox']);

fs.rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: ['src/main.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(pkg.dependencies).filter((name) => !BUNDLED.has(name)),
  sourcemap: true,
  logLevel: 'warning',
});
