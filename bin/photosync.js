#!/usr/bin/env node
// Runs the compiled build in dist/ (`npm run build`, which `npm install` runs); `npm run photosync`
// runs the sources. `serve` takes the one-file server bundle, every other command the split one
// (see scripts/build.mjs).
import fs from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';

const bundle = process.argv[2] === 'serve' ? 'server' : 'cli';
const main = new URL(`../dist/${bundle}/main.js`, import.meta.url);
if (!fs.existsSync(main)) {
  process.stderr.write('photosync is not built yet: run `npm run build` (npm install does it) in the photosync folder.\n');
  process.exitCode = 1;
} else {
  if (bundle === 'server') await optimizeNextTickFirst();
  await import(main.href);
}

/**
 * Every request goes through Node's process.nextTick several times (stream ends, write callbacks),
 * and each call builds its tick as an object literal. When the server's start-up (about a hundred
 * modules, the route schemas) is the first heavy user of nextTick, V8 ends up building that literal
 * in its runtime (Runtime_DefineKeyedOwnPropertyInLiteral) for the rest of the process: 11–13% of a
 * hot photo read's CPU under perf, in 5 starts of 5. Calling nextTick hot before anything loads
 * gets it optimized first, and the literal stays on the fast path (3 starts of 3): a hot read then
 * costs about a quarter less CPU (see bench/hot-reads.ts). Nothing else depends on it; it takes
 * about 20 ms of the server's start.
 */
async function optimizeNextTickFirst() {
  const noop = () => {};
  // V8 optimizes nextTick after a few thousand calls, on a background thread: three rounds with a
  // turn of the event loop between them leave time for the optimized code to be installed.
  for (let round = 0; round < 3; round++) {
    for (let call = 0; call < 10_000; call++) process.nextTick(noop);
    await nextTurn();
  }
}
