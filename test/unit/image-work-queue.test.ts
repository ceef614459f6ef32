import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServiceBusy } from '../../src/errors.ts';
import { httpHeadersOf, httpStatusOf } from '../../src/http/index.ts';
import { ImageWorkQueue } from '../../src/imaging/index.ts';

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
};

test('image work runs at most `concurrency` at once, the rest wait their turn in order', async () => {
  const queue = new ImageWorkQueue(2, 10);
  const started: number[] = [];
  const gates = Array.from({ length: 5 }, gate);
  const all = gates.map((g, i) =>
    queue.run(async () => {
      started.push(i);
      await g.opened;
      return i;
    }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(started, [0, 1]);
  assert.deepEqual(queue.load(), { running: 2, waiting: 3 });
  gates[1]!.open();
  await all[1];
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(started, [0, 1, 2]);
  for (const g of gates) g.open();
  assert.deepEqual(await Promise.all(all), [0, 1, 2, 3, 4]);
  assert.deepEqual(queue.load(), { running: 0, waiting: 0 });
});

test('an upload beyond the waiting line is refused with 503 and Retry-After; background work still waits', async () => {
  const queue = new ImageWorkQueue(1, 1, 3);
  const hold = gate();
  const running = queue.run(() => hold.opened);
  const waiting = queue.run(async () => 'waited');
  await assert.rejects(
    queue.run(async () => 'refused'),
    (error: unknown) => {
      assert.ok(error instanceof ServiceBusy);
      assert.equal(httpStatusOf(error), 503);
      assert.deepEqual(httpHeadersOf(error), { 'retry-after': '3' });
      assert.match(error.message, /busy/);
      return true;
    },
  );
  const background = queue.run(async () => 'background', { background: true });
  hold.open();
  await running;
  assert.equal(await waiting, 'waited');
  assert.equal(await background, 'background');
});

test('a failing task frees its slot', async () => {
  const queue = new ImageWorkQueue(1, 0);
  await assert.rejects(
    queue.run(async () => {
      throw new Error('bad image');
    }),
    /bad image/,
  );
  assert.equal(await queue.run(async () => 'next'), 'next');
});

test('under a flood of uploads, background work (the syncs they cause) takes every other free slot', async () => {
  const queue = new ImageWorkQueue(1, 10);
  const order: string[] = [];
  const hold = gate();
  const first = queue.run(() => hold.opened);
  const tasks = [
    ...['u1', 'u2', 'u3', 'u4'].map((name) => queue.run(async () => void order.push(name))),
    ...['s1', 's2'].map((name) => queue.run(async () => void order.push(name), { background: true })),
  ];
  hold.open();
  await Promise.all([first, ...tasks]);
  assert.deepEqual(order, ['u1', 's1', 'u2', 's2', 'u3', 'u4']);
});
