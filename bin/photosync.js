#!/usr/bin/env node
// Runs the compiled build in dist/ (`npm run build`, which `npm install` runs); `npm run photosync`
// runs the sources. `serve` takes the one-file server bundle, every other command the split one
// (see scripts/build.mjs).
import { createHook } from 'node:async_hooks';
import fs from 'node:fs';

/** Held for the life of the process (see keepTickObjectShapeAlive). */
let keptTickObject;
keepTickObjectShapeAlive();
const bundle = process.argv[2] === 'serve' ? 'server' : 'cli';
const main = new URL(`../dist/${bundle}/main.js`, import.meta.url);
if (fs.existsSync(main)) {
  await import(main.href);
} else {
  process.stderr.write('photosync is not built yet: run `npm run build` (npm install does it) in the photosync folder.\n');
  process.exitCode = 1;
}

/**
 * Every request goes through Node's process.nextTick several times (stream ends, write callbacks),
 * and each call builds its tick as an object literal. V8 remembers one shape (hidden class) for that
 * literal and never a second: once it sees another, it builds every later tick in its slow runtime
 * path (Runtime_DefineKeyedOwnPropertyInLiteral). A tick lives for microseconds, so a full garbage
 * collection at a moment with no tick alive frees the shape, the next tick gets a new one, and that
 * happened in every server start we measured (5 of 5, in the start-up's own collections): 11–13% of
 * a hot photo read's CPU under perf, about a quarter of its cost in all (bench/hot-reads.ts).
 * Holding one tick object for the life of the process keeps its shape, and the fast path, alive.
 */
function keepTickObjectShapeAlive() {
  const hook = createHook({
    init(asyncId, type, triggerAsyncId, resource) {
      if (type === 'TickObject') keptTickObject ??= resource;
    },
  }).enable();
  process.nextTick(() => {});
  hook.disable();
}
