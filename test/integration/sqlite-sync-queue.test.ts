import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { openDatabase, type Database } from '../../src/storage/index.ts';
import type { SyncJob } from '../../src/sync/index.ts';
import { SqliteSyncQueue } from '../../src/sync/sqlite-sync-queue.ts';
import { waitFor } from '../support/sync-fixtures.ts';

/** The embedded queue's rules, on a real SQLite file, with a clock the test moves. */
describe('the SQLite sync queue', () => {
  let dir: string;
  let database: Database;
  let clock: number;
  const now = () => new Date(clock);
  const log = pino({ level: 'silent' });
  const queues: SqliteSyncQueue[] = [];
  const queueWith = (handler: (job: SyncJob) => Promise<void>, concurrency = 1) => {
    const queue = new SqliteSyncQueue(database.db, handler, { concurrency, log, now, retryDelayMs: 1000 });
    queues.push(queue);
    return queue;
  };
  const rows = () => database.db.selectFrom('sync_jobs').selectAll().orderBy('created_at').execute();

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-queue-'));
    database = await openDatabase({ sqliteFile: path.join(dir, 'q.db'), log });
  });
  beforeEach(async () => {
    for (const queue of queues.splice(0)) await queue.stop();
    await database.db.deleteFrom('sync_jobs').execute();
    clock = Date.parse('2026-11-30T10:00:00Z');
  });
  after(async () => {
    for (const queue of queues.splice(0)) await queue.stop();
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a person already waiting is not queued again', async () => {
    const queue = queueWith(async () => {});
    await queue.enqueue([{ personIds: ['p1'], trigger: 'on-change' }], { singleton: true });
    await queue.enqueue([{ personIds: ['p1'], trigger: 'on-change' }], { singleton: true });
    await queue.enqueue([{ personIds: ['p2'], trigger: 'on-change' }], { singleton: true });
    assert.deepEqual(
      (await rows()).map((r) => r.person_ids),
      ['["p1"]', '["p2"]'],
    );
    assert.deepEqual([...(await queue.pendingPersonIds(['p1', 'p2', 'p3']))].sort(), ['p1', 'p2']);
  });

  test('a person whose sync is running can be queued once more (the change came after it read Mail)', async () => {
    let release!: () => void;
    const running = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    const queue = queueWith(async (job) => {
      seen.push(job.trigger);
      if (seen.length === 1) await running;
    });
    await queue.enqueue([{ personIds: ['p1'], trigger: 'on-change' }], { singleton: true });
    await queue.startWorkers();
    await waitFor(async () => seen.length === 1, 5000, 'the first job to start');
    await queue.enqueue([{ personIds: ['p1'], trigger: 'scheduled' }], { singleton: true });
    await queue.enqueue([{ personIds: ['p1'], trigger: 'scheduled' }], { singleton: true });
    assert.deepEqual(
      (await rows()).map((r) => r.state),
      ['running', 'waiting'],
      'one running, one follow-up waiting',
    );
    release();
    await queue.whenIdle();
    assert.deepEqual(seen, ['on-change', 'scheduled']);
  });

  test('a failing job is retried with backoff, then dropped after the last retry', async () => {
    let attempts = 0;
    const queue = queueWith(async () => {
      attempts++;
      throw new Error('Mail did not answer');
    });
    await queue.enqueue([{ personIds: ['p1'], trigger: 'on-change' }], { singleton: true });
    await queue.startWorkers();
    await waitFor(async () => attempts === 1 && (await rows())[0]?.state === 'waiting', 5000, 'the first attempt to fail');
    const [first] = await rows();
    assert.equal(Date.parse(first!.available_at) - clock, 1000, 'the first retry waits the base delay');
    for (const expectedDelay of [2000, 4000]) {
      clock = Date.parse((await rows())[0]!.available_at);
      queue.wake();
      await waitFor(
        async () => (await rows())[0]?.state === 'waiting' && (await rows())[0]!.attempts === attempts && attempts > 1,
        5000,
        'the next attempt',
      );
      assert.equal(Date.parse((await rows())[0]!.available_at) - clock, expectedDelay, 'each retry waits twice as long');
    }
    clock = Date.parse((await rows())[0]!.available_at);
    queue.wake();
    await waitFor(async () => (await rows()).length === 0, 5000, 'the job to be dropped');
    assert.equal(attempts, 4, 'the first attempt and three retries');
  });

  test('a job taken by a process that died is taken again when the server starts', async () => {
    // Never stopped (its job never ends): with its one worker busy, it takes nothing more.
    const dead = new SqliteSyncQueue(database.db, async () => new Promise<void>(() => {}), { concurrency: 1, log, now });
    await dead.enqueue([{ personIds: ['p1'], trigger: 'on-change' }], { singleton: true });
    await dead.startWorkers();
    await waitFor(async () => (await rows())[0]?.state === 'running', 5000, 'the job to be taken');
    // The process "dies": its claim stays in the table. A new server takes the job at its start.
    const done: string[] = [];
    const next = queueWith(async (job) => void done.push(job.personIds[0]!));
    await next.startWorkers();
    await waitFor(async () => done.length === 1, 5000, 'the new server to run it');
    assert.deepEqual(done, ['p1']);
  });

  test("a bulk run's jobs wait behind single people", async () => {
    const order: string[] = [];
    const queue = queueWith(async (job) => void order.push(job.personIds.join(',')));
    await queue.enqueue([{ personIds: ['b1', 'b2'], trigger: 'admin', runId: 'r1' }], { bulk: true });
    clock += 1;
    await queue.enqueue([{ personIds: ['p1'], trigger: 'on-change' }], { singleton: true });
    await queue.startWorkers();
    await queue.whenIdle();
    assert.deepEqual(order, ['p1', 'b1,b2']);
    assert.equal(await queue.hasPendingJobs('r1'), false);
  });
});
