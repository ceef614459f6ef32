import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { createServices, type ServiceOverrides, type Services } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Person } from '../../src/directory/index.ts';
import { AppError } from '../../src/errors.ts';
import { httpStatusOf } from '../../src/http/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { createScratchPostgres, DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { waitFor } from '../support/sync-fixtures.ts';

/*
 * Durable sync (issue 9): every request is stored before it is acted on, bulk runs live in the
 * database, and several processes (here: several service instances on one database, as several
 * server processes would be) share them.
 */

let colour = 0;
const newPhoto = () => {
  colour += 41;
  return makePhoto('jpeg', 160, 160, { color: `#${(0x305070 + colour * 0x010203).toString(16).slice(-6)}`, marker: '#000000' });
};

/** Captures a service instance's log records. */
function capturedLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream) as Logger, records };
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`durable sync on ${kind}`, { skip }, () => {
    let env: Record<string, string>;
    let dataDir: string;
    let drop: (() => Promise<void>) | undefined;
    const open: Services[] = [];
    let counter = 0;

    /** One more "server process" on the same database. */
    const processOn = async (overrides: ServiceOverrides = {}, extraEnv: Record<string, string> = {}) => {
      const services = await createServices(loadConfig({ ...env, ...extraEnv }), overrides);
      open.push(services);
      return services;
    };
    const close = async (services: Services) => {
      open.splice(open.indexOf(services), 1);
      await services.close();
    };
    const addPeople = async (services: Services, n: number): Promise<Person[]> => {
      const people: Person[] = [];
      for (let i = 0; i < n; i++)
        people.push(await services.directory.addPerson({ userPrincipalName: `durable${++counter}@contoso.example`, role: 'user' }));
      return people;
    };
    const runEnded = (services: Services, runId: string) =>
      waitFor(
        async () => {
          const run = await services.runs.get(runId);
          return run && run.status !== 'running' ? run : undefined;
        },
        30_000,
        'the run to end',
      );

    before(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-durable-'));
      const postgres = kind === 'postgres' ? await createScratchPostgres() : undefined;
      drop = postgres?.drop;
      env = {
        DATA_DIR: dataDir,
        LOG_LEVEL: 'silent',
        PUBLIC_URL: 'http://photosync.test',
        SYNC_CONCURRENCY: '2',
        ...(postgres && { DATABASE_URL: postgres.url }),
      };
    });
    after(async () => {
      for (const services of [...open]) await services.close();
      await drop?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    test('an on-change request is stored in the same transaction as the photo change', async () => {
      // No process takes jobs: the request must be in the database the moment the change is.
      const writer = await processOn({}, { SYNC_MODE: 'on-change' });
      const [person] = await addPeople(writer, 1);
      await writer.mail.setPhoto(CLI_ACTOR, person!, await newPhoto(), 'cli');
      assert.deepEqual(
        [...(await writer.syncRequests['queue'].pendingPersonIds([person!.id]))],
        [person!.id],
        'the request is stored with the change',
      );

      // A change that rolls back leaves no request behind.
      const [other] = await addPeople(writer, 1);
      await assert.rejects(
        writer.database.db.transaction().execute(async (trx) => {
          await writer.syncRequests.requestForChange(other!.id, trx);
          throw new Error('the change fails');
        }),
        /the change fails/,
      );
      assert.equal((await writer.syncRequests['queue'].pendingPersonIds([other!.id])).size, 0, 'no request without its change');

      // Another process's workers take the stored request: Sites follows Mail.
      const worker = await processOn({}, { SYNC_MODE: 'on-change' });
      await worker.syncAutomation.startWorkers({ tick: false });
      await waitFor(async () => (await worker.sync.getSyncState(person!)).state === 'in-sync', 10_000, 'the stored request to be synced');
      await close(worker);
      await close(writer);
    });

    test('a run started in one process is followed and cancelled from another', async () => {
      const starter = await processOn();
      const people = await addPeople(starter, 150);
      for (const person of people.slice(0, 3)) await starter.mail.setPhoto(CLI_ACTOR, person, await newPhoto(), 'cli');
      // The starter takes no jobs; the other process does the work.
      const runId = await starter.syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: false });
      const other = await processOn();
      const seen = await other.syncAdmin.findRun(CLI_ACTOR, runId);
      assert.equal(seen?.status, 'running', 'the other process sees the run');
      await other.syncAutomation.startWorkers({ tick: false });
      await waitFor(
        async () => ((await starter.syncAdmin.findRun(CLI_ACTOR, runId))?.done ?? 0) > 0,
        10_000,
        'progress to show in the starting process',
      );
      await other.syncAdmin.cancelRun(CLI_ACTOR, runId);
      const ended = await runEnded(starter, runId);
      assert.equal(ended.status, 'cancelled', 'the starting process sees the cancel');
      await other.syncAutomation.whenIdle();
      const final = (await starter.runs.get(runId))!;
      assert.ok(final.done < final.total, `it stopped early: ${final.done} of ${final.total}`);
      await close(other);
      await close(starter);
    });

    test('one bulk sync at a time: a second is refused with a 409 that names the running one', async () => {
      const first = await processOn();
      await addPeople(first, 5);
      const runId = await first.syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: false });
      const second = await processOn();
      const refused = await second.syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: true }).catch((error: unknown) => error);
      assert.ok(refused instanceof AppError, 'refused');
      assert.equal(httpStatusOf(refused), 409);
      assert.equal(refused.code, 'BulkSyncAlreadyRunning');
      assert.match(refused.message, new RegExp(`/admin/runs/${runId}`));
      await first.syncAdmin.cancelRun(CLI_ACTOR, runId);
      const next = await second.syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: true });
      assert.notEqual(next, runId, 'after the first ended, a new one starts');
      await second.syncAdmin.cancelRun(CLI_ACTOR, next);
      await close(second);
      await close(first);
    });

    test('a restart mid-run resumes the run: its jobs are in the database', async () => {
      const before = await processOn();
      const people = await addPeople(before, 40);
      const runId = await before.syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: false });
      const total = (await before.runs.get(runId))!.total;
      // The process "stops" before any worker took a job.
      await close(before);
      const after = await processOn();
      await after.syncAutomation.startWorkers({ tick: false });
      const ended = await runEnded(after, runId);
      assert.equal(ended.status, 'finished');
      assert.equal(ended.done, total, 'every person counted once');
      assert.equal((await after.sync.getSyncState(people[0]!)).state, 'in-sync');
      await close(after);
    });

    test('an import whose process died is marked interrupted, with what it did kept', async () => {
      const importing = await processOn();
      const [person, waiting] = await addPeople(importing, 2);
      const photo = await newPhoto();
      const { runId, report: unfinished } = await importing.photoImporter.start(
        CLI_ACTOR,
        [
          { name: `${person!.userPrincipalName}.jpg`, read: async () => photo },
          // The second file never arrives: the process "dies" while reading it.
          { name: `${waiting!.userPrincipalName}.jpg`, read: () => new Promise<Buffer>(() => {}) },
        ],
        { dryRun: false },
      );
      unfinished.catch(() => {
        // It never settles here (its process is gone); only the database tells what happened.
      });
      await waitFor(async () => ((await importing.runs.get(runId))?.done ?? 0) === 1, 10_000, 'the first file to be recorded');
      await close(importing);
      // A minute and more later, another process's tick finds the run silent.
      const later = new Date(Date.now() + 5 * 60_000);
      const other = await processOn({ now: () => later });
      await other.syncAutomation.tick();
      const run = (await other.runs.get(runId))!;
      assert.equal(run.status, 'interrupted');
      const report = (await other.photoImporter.findReport(CLI_ACTOR, runId))!;
      assert.deepEqual(
        report.files.map((f) => [f.file, f.outcome]),
        [[`${person!.userPrincipalName}.jpg`, 'imported']],
      );
      assert.equal(report.cancelled, true);
      await close(other);
    });

    test('finished runs are pruned after the retention days', async () => {
      const services = await processOn({}, { RUN_RETENTION_DAYS: '1' });
      await addPeople(services, 2);
      await services.syncAutomation.startWorkers({ tick: false });
      const runId = await services.syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: false });
      await runEnded(services, runId);
      await services.syncAutomation.tick();
      assert.ok(await services.runs.get(runId), 'kept within the retention days');
      await close(services);
      const later = new Date(Date.now() + 2 * 86_400_000);
      const afterDays = await processOn({ now: () => later }, { RUN_RETENTION_DAYS: '1' });
      await afterDays.syncAutomation.tick();
      assert.equal(await afterDays.runs.get(runId), undefined, 'gone after them');
      await close(afterDays);
    });

    test('the safety net logs each person it had to rescue, and queues them', async () => {
      const { logger, records } = capturedLogger();
      const services = await processOn({ logger }, { SYNC_MODE: 'on-change' });
      const [person] = await addPeople(services, 1);
      await services.mail.setPhoto(CLI_ACTOR, person!, await newPhoto(), 'cli');
      // Lose the stored request, as a bug would.
      const queue = services.syncRequests['queue'];
      if (kind === 'sqlite') await services.database.db.deleteFrom('sync_jobs').execute();
      else await services.database.sqlExecutor!.executeSql(`delete from pgboss.job where name = 'photosync-sync-requests'`, []);
      assert.equal((await queue.pendingPersonIds([person!.id])).size, 0);
      const rescued = await services.syncAutomation.rescueLostChanges();
      assert.ok(rescued >= 1);
      const warning = records.find((r) => typeof r.msg === 'string' && r.msg.startsWith('sync safety net') && r.personId === person!.id);
      assert.ok(warning, 'a warning names the person');
      assert.equal(warning.level, 40);
      assert.equal(warning.userPrincipalName, person!.userPrincipalName);
      assert.equal(typeof warning.mailChangedAt, 'string');
      await services.syncAutomation.startWorkers({ tick: false });
      await waitFor(async () => (await services.sync.getSyncState(person!)).state === 'in-sync', 10_000, 'the rescued person to be synced');
      // With the request in place, nothing is rescued.
      await services.mail.setPhoto(CLI_ACTOR, person!, await newPhoto(), 'cli');
      await services.syncAutomation.whenIdle();
      assert.equal(await services.syncAutomation.rescueLostChanges(), 0);
      await close(services);
    });
  });
}
