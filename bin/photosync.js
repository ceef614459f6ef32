#!/usr/bin/env node
// Runs the compiled build in dist/ (`npm run build`, which `npm install` runs); `npm run photosync`
// runs the sources. `serve` takes the one-file server bundle, every other command the split one
// (see scripts/build.mjs).
import fs from 'node:fs';
import { keepTickObjectShapeAlive } from './keep-tick-shape.js';

// First, before the start-up's garbage collections (see keep-tick-shape.js).
keepTickObjectShapeAlive();
const bundle = process.argv[2] === 'serve' ? 'server' : 'cli';
const main = new URL(`../dist/${bundle}/main.js`, import.meta.url);
if (fs.existsSync(main)) {
  await import(main.href);
} else {
  process.stderr.write('photosync is not built yet: run `npm run build` (npm install does it) in the photosync folder.\n');
  process.exitCode = 1;
}
