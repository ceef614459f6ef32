import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createServices } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import {
  checkServedSites,
  checkSnapshot,
  FindingLog,
  postgresSnapshotReader,
  sqliteSnapshotReader,
  type CheckResult,
  type SnapshotReader,
} from '../support/consistency-checks.ts';
import { createScratchPostgres, DATABASE_KINDS, type DatabaseKind } from '../support/databases.ts';
import { freePort, KillableServer } from '../support/killable-server.ts';
import { Prng } from '../support/mutation-fuzzer.ts';
import { resolveAfterRestart, SoakDriver, type PersonLedger, type SoakPerson } from '../support/soak-clients.ts';
import { DecodeCache, makeSoakPhotos, type SoakPhoto } from '../support/soak-photos.ts';

/*
 * Crash consistency: the real server (`photosync serve`) as a child process on each database, driven
 * by several Graph clients, killed with SIGKILL at seeded random moments and started again on the
 * same data. After every restart, before any client writes again, one snapshot of the database must
 * show: every acknowledged write (or the one unanswered write after it — nothing else); whole Mail
 * versions with all their renditions; whole Sites S/M/L sets of one version with matching
 * properties; no orphan rows; a clean start. Every JUDGE_EVERY-th restart (and at the end) the people
 * whose Sites copy lagged Mail are left alone for SOAK_SETTLE_MS: on-change sync must bring them level,
 * and failing that their own L view (the user-initiated sync) must.
 *
 *   SOAK_SEED      seed of the kill moments, the photos and the clients' choices (printed; default fixed)
 *   SOAK_KILLS     kills per database kind (default 30; `npm run soak` sets 200)
 *   SOAK_SETTLE_MS how long on-change sync gets after a restart (default 1500; the README promises a second)
 *
 * The seed fixes the kill delays and each client's sequence of choices; how requests interleave with
 * a kill still depends on timing, so a rerun with the same seed is similar, not identical.
 */
const SEED = Number(process.env.SOAK_SEED ?? 20260611);
const KILLS = Number(process.env.SOAK_KILLS ?? 30);
const SETTLE_MS = Number(process.env.SOAK_SETTLE_MS ?? 1500);
const PEOPLE = 8;
const CLIENTS = 4;
const PHOTOS = 30;
const JUDGE_EVERY = 5;
const KILL_DELAY_MS = [50, 1000] as const;
/** How long a start may take before it counts as a failed start. */
const START_TIMEOUT_MS = 60_000;
/** How much longer than the settle time a request that is still waiting or running may take. */
const PENDING_GRACE_MS = 30_000;
/** The server's tick (safety net) in this suite: often enough to catch what it would rescue. */
const TICK_SECONDS = 2;
const PASSWORD = 'soak password, long enough';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line: string) => console.log(line);

interface RunStats {
  kills: number;
  snapshots: number;
  checksPassed: number;
  startMs: number[];
  warnings: Map<string, number>;
  staleAtRestart: number;
  judged: number;
  notConverged: number;
  repairedByOwnView: number;
  lateButPending: number;
  rescues: number;
  caughtUpBy: Map<string, number>;
  setupMs: number;
  loopMs: number;
}

for (const { kind, skip } of DATABASE_KINDS) {
  test(
    `crash consistency on ${kind}: ${KILLS} SIGKILLs under load, checked after every restart`,
    { skip, timeout: 120_000 + KILLS * 30_000 },
    async () => {
      const began = performance.now();
      const log = new FindingLog();
      const stats: RunStats = {
        kills: 0,
        snapshots: 0,
        checksPassed: 0,
        startMs: [],
        warnings: new Map(),
        staleAtRestart: 0,
        judged: 0,
        notConverged: 0,
        repairedByOwnView: 0,
        lateButPending: 0,
        rescues: 0,
        caughtUpBy: new Map(),
        setupMs: 0,
        loopMs: 0,
      };
      const tally = (result: CheckResult, where: string) => {
        stats.checksPassed += result.passed;
        for (const finding of result.findings) log.add(finding, where);
      };
      let epoch = 'the first start';

      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-crash-'));
      const postgres = kind === 'postgres' ? await createScratchPostgres() : undefined;
      const port = await freePort();
      const env: Record<string, string> = {
        DATA_DIR: dataDir,
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        PHOTOSYNC_ADMIN_PASSWORD: 'a long enough admin password',
        SYNC_MODE: 'on-change',
        // Every view of one's own L photo checks Mail (not once per session and hour).
        SYNC_SESSION_RECHECK_MINUTES: '0',
        SYNC_TICK_SECONDS: String(TICK_SECONDS),
        ...(postgres && { DATABASE_URL: postgres.url }),
      };
      const server = new KillableServer(port, env);
      let reader: SnapshotReader | undefined;
      let driver: SoakDriver | undefined;

      try {
        const rng = new Prng(SEED + (kind === 'postgres' ? 1 : 0));
        const photos = await makeSoakPhotos(new Prng(SEED), PHOTOS);
        const photosByEtag = new Map(photos.map((p) => [p.etag, p]));
        const decoder = new DecodeCache();
        const people = await seedPeople(kind, { ...env, PORT: String(port) });
        const ledgers: PersonLedger[] = people.map((person) => ({ person, confirmed: null, confirmedBy: 'start' }));
        say(
          `crash consistency on ${kind}: seed ${SEED} (SOAK_SEED), ${KILLS} kills (SOAK_KILLS), ${PEOPLE} people, ${CLIENTS} clients, ${PHOTOS} photos, SIGKILL ${KILL_DELAY_MS[0]}–${KILL_DELAY_MS[1]} ms after readiness, on-change convergence judged every ${JUDGE_EVERY} kills within ${SETTLE_MS} ms (SOAK_SETTLE_MS)`,
        );

        const startServer = async () => {
          // Generous: on a loaded machine a start (tsx compiling the sources) took up to 19 s; a start that never comes still fails.
          const { readyMs } = await server.start(START_TIMEOUT_MS);
          stats.startMs.push(readyMs);
          const { errors, warnings } = server.startProblems();
          for (const error of errors)
            log.add({ category: 'Unclean start (error output)', detail: error.replace(/\(node:\d+\)/, '(node)') }, epoch);
          if (errors.length === 0) stats.checksPassed++;
          for (const warning of warnings) stats.warnings.set(warning, (stats.warnings.get(warning) ?? 0) + 1);
        };

        await startServer();
        reader =
          kind === 'postgres' ? await postgresSnapshotReader(postgres!.url) : sqliteSnapshotReader(path.join(dataDir, 'photosync.db'));
        driver = new SoakDriver({
          baseUrl: () => server.url,
          ledgers,
          photos,
          clients: CLIENTS,
          seed: SEED,
          report: (finding) => log.add(finding, `while driving, ${epoch}`),
        });
        driver.start();

        const judge = (stale: string[], settleMs: number, where: string) =>
          judgeConvergence({
            stale,
            settleMs,
            where,
            kind,
            server,
            reader: reader!,
            driver: driver!,
            ledgers,
            photosByEtag,
            decoder,
            log,
            stats,
            tally,
          });

        stats.setupMs = performance.now() - began;
        let judging: Promise<void> = Promise.resolve();
        for (let kill = 1; kill <= KILLS; kill++) {
          await sleep(rng.int(KILL_DELAY_MS[0], KILL_DELAY_MS[1]));
          // A judged restart keeps the server up until its judgment is over.
          await judging;
          for (const exit of server.unexpectedExits.splice(0)) log.add({ category: 'Server exited by itself', detail: exit }, epoch);
          if (!server.running) {
            // It died on its own (reported above): start it again and carry on.
            await server.kill();
            await startServer().catch((error: Error) =>
              log.add({ category: 'Server does not start after a crash', detail: error.message.slice(0, 3000) }, epoch),
            );
          }

          driver.gate.close();
          checkSafetyNet(server, log, stats, epoch);
          await server.kill();
          stats.kills++;
          await driver.idle();
          epoch = `after kill ${kill}`;

          try {
            await startServer();
          } catch (error) {
            log.add({ category: 'Server does not start after a crash', detail: (error as Error).message.slice(0, 3000) }, epoch);
            break;
          }

          // One snapshot before any client writes again: checks 1–3 run on it.
          const snapshot = await reader.read();
          stats.snapshots++;
          const state = new Map(
            snapshot.people.map((p) => [
              p.id,
              {
                mail: snapshot.versions.find((v) => v.person_id === p.id && v.state === 'current')?.etag ?? null,
                sites: snapshot.profiles.find((s) => s.person_id === p.id)?.synced_etag ?? null,
              },
            ]),
          );
          tally(resolveAfterRestart(ledgers, state, driver.counts, kill), epoch);
          const stale = ledgers.map((l) => l.person.id).filter((id) => state.get(id)!.mail !== state.get(id)!.sites);
          stats.staleAtRestart += stale.length;
          judging = Promise.resolve();
          if (kill % JUDGE_EVERY === 0 && stale.length > 0) {
            for (const id of stale) driver.held.add(id);
            judging = judge(stale, SETTLE_MS, epoch);
          }
          driver.gate.open();
          tally(await checkSnapshot(snapshot, photosByEtag, decoder), epoch);
        }
        await judging;
        stats.loopMs = performance.now() - began - stats.setupMs;

        // The end: no more writes. Everyone's Sites must reach Mail by on-change, or else by their own view.
        epoch = 'at the end';
        driver.gate.close();
        await driver.idle();
        await driver.stop();
        for (const exit of server.unexpectedExits.splice(0)) log.add({ category: 'Server exited by itself', detail: exit }, epoch);
        if (server.running) {
          const final = await reader.mailAndSites();
          const lagging = ledgers.map((l) => l.person.id).filter((id) => final.get(id)!.mail !== final.get(id)!.sites);
          await judge(lagging, Math.max(SETTLE_MS, 3000), epoch);
          const last = await reader.read({ fullIntegrity: true });
          tally(await checkSnapshot(last, photosByEtag, decoder), epoch);
          checkSafetyNet(server, log, stats, epoch);
          const code = await server.stop().catch((error: Error) => error);
          if (code !== 0)
            log.add(
              { category: 'Unclean stop', detail: `SIGTERM after the run: ${code instanceof Error ? code.message : `exit code ${code}`}` },
              epoch,
            );
          printSummary(kind, stats, driver, performance.now() - began, log, last.jobs);
        } else {
          printSummary(kind, stats, driver, performance.now() - began, log, undefined);
        }
      } finally {
        await driver?.stop().catch(() => {});
        await server.kill();
        await reader?.close().catch(() => {});
        await postgres?.drop().catch(() => {});
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
      assert.deepEqual(log.byCategory(), {}, `crash consistency on ${kind}: ${log.unique.length} distinct findings (printed above)`);
    },
  );
}

interface JudgeContext {
  stale: string[];
  settleMs: number;
  where: string;
  kind: DatabaseKind;
  server: KillableServer;
  reader: SnapshotReader;
  driver: SoakDriver;
  ledgers: PersonLedger[];
  photosByEtag: ReadonlyMap<string, SoakPhoto>;
  decoder: DecodeCache;
  log: FindingLog;
  stats: RunStats;
  tally: (result: CheckResult, where: string) => void;
}

/**
 * People whose Sites copy lagged Mail at a restart are left alone (no client touches them): on-change
 * sync must bring them level within the settle time. Those it does not are findings; then the person
 * opens their own L photo (signed in), which must sync them. Finally what Sites serves for each is
 * checked against what the database holds.
 */
async function judgeConvergence(c: JudgeContext): Promise<void> {
  const { reader, driver, stats, log } = c;
  for (const id of c.stale) driver.held.add(id);
  try {
    const deadline = performance.now() + c.settleMs;
    let state = await reader.mailAndSites();
    let lagging = c.stale.filter((id) => state.get(id)?.mail !== state.get(id)?.sites);
    while (lagging.length > 0 && performance.now() < deadline && c.server.running) {
      await sleep(100);
      state = await reader.mailAndSites();
      lagging = lagging.filter((id) => state.get(id)?.mail !== state.get(id)?.sites);
    }
    // Past the settle time, a person whose request still waits or runs is late, not lost: a busy
    // machine gets more time for it. Behind with no request at all is a lost change, at any time.
    let jobs = await reader.unfinishedJobs(lagging);
    const graceEnd = performance.now() + PENDING_GRACE_MS;
    while (lagging.some((id) => (jobs.get(id)?.length ?? 0) > 0) && performance.now() < graceEnd && c.server.running) {
      await sleep(100);
      state = await reader.mailAndSites();
      lagging = lagging.filter((id) => state.get(id)?.mail !== state.get(id)?.sites);
      jobs = await reader.unfinishedJobs(lagging);
      if (lagging.length > 0 && lagging.every((id) => (jobs.get(id)?.length ?? 0) === 0)) {
        // The last request may have just finished: look once more before calling anyone lost.
        state = await reader.mailAndSites();
        lagging = lagging.filter((id) => state.get(id)?.mail !== state.get(id)?.sites);
      }
    }
    for (const id of c.stale) if (!lagging.includes(id) && (jobs.get(id)?.length ?? 0) > 0) stats.lateButPending++;
    for (const id of c.stale) {
      if (lagging.includes(id)) continue;
      const trigger = state.get(id)?.trigger ?? 'none';
      stats.caughtUpBy.set(trigger, (stats.caughtUpBy.get(trigger) ?? 0) + 1);
    }
    stats.judged += c.stale.length;
    stats.checksPassed += c.stale.length - lagging.length;
    stats.notConverged += lagging.length;
    for (const id of lagging) {
      const ledger = c.ledgers.find((l) => l.person.id === id)!;
      const s = state.get(id)!;
      const from =
        ledger.lastResolution === 'unknown write applied' ? 'a write killed before it was answered (committed)' : 'an acknowledged write';
      const pending = jobs.get(id) ?? [];
      const queued = `; sync requests of this person still waiting or running: ${pending.join(', ') || 'none'}`;
      log.add(
        {
          category:
            pending.length === 0
              ? `On-change sync lost on ${c.kind}: Sites is behind Mail and no sync request is pending`
              : `On-change sync late on ${c.kind}: a request still waits ${PENDING_GRACE_MS / 1000} s after the settle time`,
          detail: `${ledger.person.upn}: Mail ${s.mail ?? 'no photo'} (from ${from}), Sites ${s.sites ?? 'placeholder'}, still ${c.settleMs} ms ${c.where === 'at the end' ? 'after the last write of the run (the last restart came before it)' : 'after the restart'}${queued}`,
        },
        c.where,
      );
    }
    for (const id of lagging) {
      const person = c.ledgers.find((l) => l.person.id === id)!.person;
      const response = await fetch(`${c.server.url}/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(person.upn)}`, {
        headers: { cookie: `photosync_session=${person.session}` },
        signal: AbortSignal.timeout(20_000),
      }).catch((error: Error) => error);
      if (response instanceof Response) await response.arrayBuffer();
      const after = (await reader.mailAndSites()).get(id)!;
      if (after.mail === after.sites) {
        stats.repairedByOwnView++;
        stats.checksPassed++;
      } else {
        log.add(
          {
            category: 'User-initiated sync does not repair Sites after a crash',
            detail: `${person.upn} opened their own L photo (${response instanceof Response ? `${response.status}, ETag ${response.headers.get('etag')}` : response.message}); Sites still has ${after.sites ?? 'the placeholder'}, Mail ${after.mail ?? 'no photo'}`,
          },
          c.where,
        );
      }
    }
    // What Sites serves (no sync triggered: a token) must be what it holds.
    const now = await reader.mailAndSites();
    for (const id of c.stale) {
      if (!c.server.running) break;
      const person = c.ledgers.find((l) => l.person.id === id)!.person;
      c.tally(await checkServedSites(c.server.url, person, now.get(id)?.sites ?? null, c.photosByEtag, c.decoder), c.where);
    }
  } finally {
    for (const id of c.stale) driver.held.delete(id);
  }
}

/**
 * Every change stores its sync request in its own transaction, so the server's safety net (which
 * queues anyone behind Mail with no request pending, and logs each) must never find a change made
 * since this process started: that change's request would have been lost without any crash.
 */
function checkSafetyNet(server: KillableServer, log: FindingLog, stats: RunStats, where: string): void {
  for (const record of server.logRecords('sync safety net')) {
    stats.rescues++;
    const changedAt = typeof record.mailChangedAt === 'string' ? Date.parse(record.mailChangedAt) : Number.NaN;
    if (Number.isNaN(changedAt) || changedAt >= server.startedAtMs) {
      log.add(
        {
          category: 'The safety net rescued a change made after the last restart (its sync request was lost)',
          detail: `${String(record.userPrincipalName)}: Mail ${String(record.mailEtag)} changed at ${String(record.mailChangedAt)}, the server started at ${new Date(server.startedAtMs).toISOString()}`,
        },
        where,
      );
    }
  }
}

/** Before the first start: the people, a token and a signed-in session each (both stay valid across restarts). */
async function seedPeople(kind: DatabaseKind, env: Record<string, string>): Promise<SoakPerson[]> {
  const services = await createServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
  try {
    const passwordHash = await services.identity.hashPassword(PASSWORD);
    const people: SoakPerson[] = [];
    for (let i = 1; i <= PEOPLE; i++) {
      const person = await services.directory.addPerson({
        userPrincipalName: `soak${i}.${kind}@contoso.example`,
        displayName: `Soak Person ${i}`,
        role: 'user',
        passwordHash,
      });
      const { token } = await services.identity.createApiToken(CLI_ACTOR, person, 'soak');
      const { sessionToken } = await services.identity.signIn(person.userPrincipalName, PASSWORD);
      people.push({ id: person.id, upn: person.userPrincipalName, token, session: sessionToken });
    }
    return people;
  } finally {
    await services.close();
  }
}

function printSummary(
  kind: string,
  stats: RunStats,
  driver: SoakDriver,
  ms: number,
  log: FindingLog,
  jobs: Record<string, number> | undefined,
): void {
  const c = driver.counts;
  const starts = stats.startMs;
  const mean = starts.reduce((a, b) => a + b, 0) / Math.max(1, starts.length);
  const s = (n: number) => (n / 1000).toFixed(1);
  say(
    `crash consistency on ${kind}: ${stats.kills} kills in ${s(ms)} s (setup ${s(stats.setupMs)} s, kill loop ${s(stats.loopMs)} s, end ${s(ms - stats.setupMs - stats.loopMs)} s; seed ${SEED}); the server was ready ${(mean / 1000).toFixed(2)} s after its start on average, ${(Math.max(...starts) / 1000).toFixed(2)} s at most (${starts.length} starts)`,
  );
  say(
    `  writes: ${c.putsAcked + c.deletesAcked + c.deletesNoPhoto} acknowledged (${c.putsAcked} PUT, ${c.deletesAcked} DELETE, ${c.deletesNoPhoto} DELETE answered 404 no photo); ${c.unknownWrites} unknown, killed before the answer (${c.unknownApplied} had committed, ${c.unknownNotApplied} had not, ${c.unknownIndistinguishable} indistinguishable); ${c.refused} refused while down; ${c.busy} answered 503 busy`,
  );
  say(`  reads: ${c.ownLargeViews} own L views with a session (user-initiated syncs), ${c.graphReads} Graph read-backs`);
  say(
    `  checks: ${stats.snapshots} snapshots after restarts, ${stats.checksPassed} checks passed, ${log.failed} failed (${log.unique.length} distinct findings)`,
  );
  say(
    `  convergence: ${stats.staleAtRestart} person-restarts found Sites behind Mail; ${stats.judged} judged: ${stats.judged - stats.notConverged} caught up within the settle time (last trigger: ${JSON.stringify(Object.fromEntries(stats.caughtUpBy))}), ${stats.notConverged} did not (${stats.repairedByOwnView} then repaired by the person's own L view), ${stats.lateButPending} caught up only after the settle time with their request pending; the safety net rescued ${stats.rescues}${jobs ? `; pg-boss sync jobs at the end: ${JSON.stringify(jobs)}` : ''}`,
  );
  for (const [warning, count] of stats.warnings) say(`  warning on ${count} of ${starts.length} starts (not a failure): ${warning}`);
  const groups = log.byCategory();
  for (const [category, count] of Object.entries(groups)) {
    const all = log.unique.filter((f) => f.category === category);
    say(`  FINDING ${category}: ${count} distinct, ${all.reduce((n, f) => n + f.where.length, 0)} times`);
    for (const f of all.slice(0, 4))
      say(`      ${f.where[0]}${f.where.length > 1 ? ` (and ${f.where.length - 1} more)` : ''}: ${f.detail.replace(/\n/g, ' ⏎ ')}`);
  }
}
