import { createHook } from 'node:async_hooks';

/** Held for the life of the process (see keepTickObjectShapeAlive). */
let keptTickObject;

/**
 * Every request goes through Node's process.nextTick several times (stream ends, write callbacks),
 * and each call builds its tick as an object literal. V8 remembers one shape (hidden class) for that
 * literal and never a second: once it sees another, it builds every later tick in its slow runtime
 * path (Runtime_DefineKeyedOwnPropertyInLiteral). A tick lives for microseconds, so a full garbage
 * collection at a moment with no tick alive frees the shape, and the next tick gets a new one. That
 * happened in every photosync server start we measured (5 of 5, in the start-up's own collections),
 * and to a bare node:http server after a full collection: 11–16% of a small answer's CPU under perf.
 * Holding one tick object for the life of the process keeps its shape, and the fast path, alive.
 */
export function keepTickObjectShapeAlive() {
  if (keptTickObject) return;
  const hook = createHook({
    init(asyncId, type, triggerAsyncId, resource) {
      if (type === 'TickObject') keptTickObject ??= resource;
    },
  }).enable();
  process.nextTick(() => {});
  hook.disable();
}
