import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TtlCache } from '../../src/ttl-cache.ts';

/** A clock the test moves by hand. */
const manualClock = () => {
  let nowMs = 1_000_000;
  return { now: () => nowMs, advance: (ms: number) => void (nowMs += ms) };
};

/** A load the test finishes when it chooses, to change the cache while it runs. */
const heldLoad = <V>(value: V) => {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const load = async () => {
    await finished;
    return value;
  };
  return { load, finish };
};

test('an entry is served until its time to live has passed, then not at all', () => {
  const clock = manualClock();
  const cache = new TtlCache<string, string>(1000, 10, clock.now);
  cache.set('ada', 'photo-1');
  clock.advance(999);
  assert.equal(cache.get('ada'), 'photo-1');
  clock.advance(1);
  assert.equal(cache.get('ada'), undefined);
});

test('a full cache drops its oldest entry to make room for a new one', () => {
  const cache = new TtlCache<string, number>(60_000, 2, manualClock().now);
  cache.set('first', 1);
  cache.set('second', 2);
  cache.set('third', 3);
  assert.equal(cache.get('first'), undefined);
  assert.equal(cache.get('second'), 2);
  assert.equal(cache.get('third'), 3);
});

test('writing a key the full cache holds drops nothing else, and makes that key the newest', () => {
  const cache = new TtlCache<string, number>(1000, 2);
  cache.set('ada', 1);
  cache.set('grace', 2);
  cache.set('ada', 3);
  assert.equal(cache.get('grace'), 2, 'rewriting ada kept grace');
  cache.set('alan', 4);
  assert.equal(cache.get('grace'), undefined, 'grace, written longest ago, made room');
  assert.equal(cache.get('ada'), 3);
  assert.equal(cache.get('alan'), 4);
});

test('getOrLoad loads once and serves the loaded value from memory until it expires', async () => {
  const clock = manualClock();
  const cache = new TtlCache<string, string>(1000, 10, clock.now);
  let loads = 0;
  const load = async () => `photo-${++loads}`;
  assert.equal(await cache.getOrLoad('ada', load), 'photo-1');
  assert.equal(await cache.getOrLoad('ada', load), 'photo-1');
  clock.advance(1000);
  assert.equal(await cache.getOrLoad('ada', load), 'photo-2');
});

test('a value loaded while its key was deleted is returned but not cached', async () => {
  const cache = new TtlCache<string, string>(60_000, 10, manualClock().now);
  const old = heldLoad('old photo');
  const loading = cache.getOrLoad('ada', old.load);
  cache.delete('ada'); // a write in this process: the load may have read the value before it
  old.finish();
  assert.equal(await loading, 'old photo');
  assert.equal(cache.get('ada'), undefined);
});

test('a value loaded while the cache was cleared is returned but not cached', async () => {
  const cache = new TtlCache<string, string>(60_000, 10, manualClock().now);
  const old = heldLoad('old settings');
  const loading = cache.getOrLoad('settings', old.load);
  cache.clear();
  old.finish();
  assert.equal(await loading, 'old settings');
  assert.equal(cache.get('settings'), undefined);
});
