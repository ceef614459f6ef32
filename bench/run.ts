import { keepingCpuAffinity, postgresUnreachable } from './bench-support.ts';
import { generateCameraPhotos } from './bench-photos.ts';
import { benchBulkImport } from './bulk-import.ts';
import { benchBulkSyncEventLoop, benchBulkSyncEventLoopPostgres, type BulkSyncEventLoopResult } from './bulk-sync-event-loop.ts';
import { benchOnChangeBurst, benchOnChangeBurstPostgres, type OnChangeBurstResult } from './on-change-burst.ts';
import { benchDecodeCost } from './decode-cost.ts';
import { benchLdapDirectorySync, type LdapSyncBenchResult } from './ldap-directory-sync.ts';
import {
  benchOnChangeLatency,
  benchOnChangeLatencyPostgres,
  generateSmallPhotos,
  type OnChangeLatencyResult,
} from './on-change-latency.ts';
import { benchHotReads, type LoadResult } from './hot-reads.ts';
import { benchStartUp } from './start-up.ts';
import { benchSyncStatusQuery, benchSyncStatusQueryPostgres, type SyncStatusQueryResult } from './sync-status-query.ts';
import { benchSync } from './sync-throughput.ts';
import { benchUploads } from './upload-throughput.ts';

// Each figure is measured against its own baseline in this same run, so the ratios hold on any machine.
const SECTIONS = ['upload', 'sync', 'reads', 'startup', 'import', 'onchange', 'status', 'decode', 'bulksync', 'burst', 'ldap'] as const;
type Section = (typeof SECTIONS)[number];
const only = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const unknown = only.filter((s) => !(SECTIONS as readonly string[]).includes(s));
if (unknown.length) throw new Error(`BENCH_ONLY: unknown section ${unknown.join(', ')}; the sections are ${SECTIONS.join(', ')}`);
const runs = (section: Section) => only.length === 0 || only.includes(section);

const uploads = Number(process.env.BENCH_UPLOADS ?? 24);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const importFiles = Number(process.env.BENCH_IMPORT_FILES ?? 1000);
const changes = Number(process.env.BENCH_CHANGES ?? 200);
const statusPeople = Number(process.env.BENCH_PEOPLE ?? 100_000);
const burstChanges = Number(process.env.BENCH_BURST ?? 300);
const ldapEntries = Number(process.env.BENCH_LDAP_ENTRIES ?? 10_000);
/** Distinct 12 MP originals the import's files are made from (the rest differ by a JPEG comment). */
const IMPORT_DISTINCT_PHOTOS = 20;

const ratio = (value: number, goal: number) => `${value.toFixed(2)}× (goal ≥ ${goal}×) ${value >= goal ? 'ok' : 'BELOW GOAL'}`;
const atMost = (value: number, goal: number, unit: string, digits = 0) => {
  const space = unit === '×' ? '' : ' ';
  return `${value.toFixed(digits)}${space}${unit} (goal ≤ ${goal}${space}${unit}) ${value <= goal ? 'ok' : 'ABOVE GOAL'}`;
};
const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));

console.log(
  `photosync benchmark — node ${process.version}; sections: ${SECTIONS.filter(runs).join(', ')}` +
    (only.length ? ' (BENCH_ONLY)' : ` (BENCH_ONLY=${SECTIONS.join(',')} picks some)`) +
    '\n',
);

// The 12 MP test photos, generated once for the sections that need them (it takes a while).
let cameraPhotos: Buffer[] = [];
const needed = Math.max(runs('upload') ? uploads : 0, runs('import') ? IMPORT_DISTINCT_PHOTOS : 0);
if (needed > 0) {
  console.log(`Generating ${needed} distinct 12 MP JPEGs…`);
  cameraPhotos = await generateCameraPhotos(needed);
}

if (runs('upload')) {
  const photos = cameraPhotos.slice(0, uploads);
  const averageKb = photos.reduce((sum, p) => sum + p.length, 0) / photos.length / 1024;
  const upload = await benchUploads(photos);
  console.log(`\nUploads (12 MP JPEG, avg ${averageKb.toFixed(0)} KB, 2 in flight, ${uploads} uploads)`);
  console.log(`  raw sharp, same cascade:   ${upload.rawSharpPerSecond.toFixed(2)} photos/s`);
  console.log(`  PUT …/photo/$value (HTTP): ${upload.uploadsPerSecond.toFixed(2)} photos/s`);
  console.log(`  ratio:                     ${ratio(upload.ratio, 0.8)}`);
  console.log(
    `  RSS of this process (server, client and the test photos): ${upload.startRssMb.toFixed(0)} MB before the upload run, ${upload.peakRssMb.toFixed(0)} MB at its peak`,
  );
}

if (runs('sync')) {
  const sync = await benchSync({ people: 40, noOpChecks: 500 });
  console.log('\nSync, Mail 648 → Sites S/M/L (one at a time)');
  console.log(`  raw sharp 648 → S/M/L:     ${sync.rawSharpPerSecond.toFixed(1)} /s`);
  console.log(`  syncProfilePhoto:          ${sync.syncsPerSecond.toFixed(1)} /s (fetch, render, one-transaction swap, run recorded)`);
  console.log(`  ratio:                     ${ratio(sync.ratio, 0.8)}`);
  console.log(`  no-op check (ETag equal):  ${sync.noOpCheckMicros.toFixed(0)} µs each`);
}

if (runs('reads')) {
  // benchHotReads pins this process to core 0; the sections after it need both cores back.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const reads = await keepingCpuAffinity(() => benchHotReads({ seconds, rounds, connections: 64 }));
  console.log(
    `\nHot reads (compiled server, LOG_LEVEL=warn, and the baselines each pinned to core 1; wrk -t1 -c${reads.connections} on core 0; median of ${rounds} alternating rounds of ${seconds} s)`,
  );
  if (reads.nginxSkipped) console.log(`  nginx skipped: ${reads.nginxSkipped}`);
  const cell = (r: LoadResult) =>
    `${Math.round(r.requestsPerSecond).toLocaleString('en').padStart(7)} req/s ${r.cpuMicrosPerRequest.toFixed(1).padStart(5)} µs${r.errors ? ` ${r.errors} errors` : ''}`;
  for (const c of reads.cases) {
    console.log(`  ${c.name}`);
    console.log(`    photosync ${cell(c.photosync)} | node:http ${cell(c.bare)}${c.nginx ? ` | nginx ${cell(c.nginx)}` : ''}`);
    console.log(
      `    ratio to node:http ${ratio(c.photosync.requestsPerSecond / c.bare.requestsPerSecond, 0.85)}` +
        (c.nginx ? `; to nginx ${ratio(c.photosync.requestsPerSecond / c.nginx.requestsPerSecond, 0.7)}` : ''),
    );
    const spread = (values: number[]) => `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}×`;
    console.log(
      `    round by round: ${spread(c.roundRatios.bare)} to node:http` + (c.nginx ? `, ${spread(c.roundRatios.nginx)} to nginx` : ''),
    );
  }
  const busy = reads.busyWork;
  console.log(
    `  ${busy.busyMicros} µs of busy work per request in the bare server: ${busy.without.toFixed(1)} → ${busy.with.toFixed(1)} µs of server CPU per request ` +
      `(each µs of handler work costs ${((busy.with - busy.without) / busy.busyMicros).toFixed(2)} µs in all: the client, idle more often, is woken more often)`,
  );
  const tick = reads.tickShape;
  console.log(
    `  ${tick.read}, with the tick object bin/keep-tick-shape.js holds: ${tick.kept.toFixed(1)} µs of server CPU per request; ` +
      `the same server without it: ${tick.withoutKeeping.toFixed(1)} µs`,
  );
}

if (runs('startup')) {
  const s = await benchStartUp({ runs: 9, people: 200 });
  const sec = (value: number) => `${value.toFixed(3)} s`;
  console.log(`\nStart-up (median of ${s.runs} runs, wall time; SQLite with ${s.people} people)`);
  console.log(`  node -e 0 (the floor):       ${sec(s.nodeBaseline)}`);
  console.log(`  photosync --help:            ${atMost(s.help, 0.3, 's', 3)} (from the sources through tsx: ${sec(s.helpFromSources)})`);
  console.log(
    `  photosync users list:        ${atMost(s.usersList, 0.3, 's', 3)} (from the sources through tsx: ${sec(s.usersListFromSources)})`,
  );
  console.log(`  photosync serve, to listening: ${atMost(s.serverReady, 1, 's', 3)}`);
}

if (runs('import')) {
  const result = await benchBulkImport({ files: importFiles, basePhotos: cameraPhotos.slice(0, IMPORT_DISTINCT_PHOTOS) });
  console.log(
    `\nBulk import (${result.files} files of 12 MP JPEG, avg ${result.averageKb.toFixed(0)} KB, from ${IMPORT_DISTINCT_PHOTOS} originals + a unique JPEG comment each; 2 in flight; each a child process, spawn to exit)`,
  );
  console.log(
    `  raw sharp, same cascade:   ${result.rawSharp.filesPerSecond.toFixed(2)} files/s (${result.rawSharp.seconds.toFixed(1)} s), peak RSS ${result.rawSharp.peakRssMb.toFixed(0)} MB`,
  );
  console.log(
    `  photosync photos import:   ${result.import.filesPerSecond.toFixed(2)} files/s (${result.import.seconds.toFixed(1)} s), all imported`,
  );
  console.log(`  ratio:                     ${ratio(result.ratio, 0.85)}`);
  console.log(`  peak RSS of the import:    ${atMost(result.import.peakRssMb, 300, 'MB')}`);
  console.log(
    `  the same import again:     ${result.secondImport.seconds.toFixed(1)} s, all unchanged (peak RSS ${result.secondImport.peakRssMb.toFixed(0)} MB)`,
  );
}

if (runs('onchange')) {
  console.log(
    `\nOn-change latency (server in a child process, SYNC_MODE=on-change; ${changes} sequential PUT …/me/photo/$value of distinct 400×400 JPEGs; clock from the PUT's 200 until userphoto.aspx?size=L shows the new ETag, polled every ~5 ms)`,
  );
  const photos = await generateSmallPhotos(changes);
  const line = (label: string, r: OnChangeLatencyResult) =>
    console.log(
      `  ${label} p50 ${ms(r.p50Ms)} ms, p99 ${atMost(r.p99Ms, 1000, 'ms', 1)}, max ${ms(r.maxMs)} ms (PUT p50 ${ms(r.putP50Ms)} ms, ${r.pollsPerChange.toFixed(1)} polls/change; server exit ${r.serverExitCode})`,
    );
  line('SQLite:    ', await benchOnChangeLatency({ photos }));
  const skip = await postgresUnreachable();
  if (skip) console.log(`  PostgreSQL: skipped: ${skip}`);
  else line('PostgreSQL:', await benchOnChangeLatencyPostgres(photos));
}

if (runs('status')) {
  console.log(
    `\nSync status read model (${statusPeople.toLocaleString('en')} people: ~80% with a Mail photo; Sites ~25% never checked, ~50% in sync, ~20% out of date, ~5% failed)`,
  );
  const report = (r: SyncStatusQueryResult) => {
    const name = r.dialect === 'sqlite' ? 'SQLite (not analyzed, as the app leaves it)' : 'PostgreSQL (analyzed)';
    console.log(`  ${name}, filled in ${r.fillSeconds.toFixed(1)} s; counts ${JSON.stringify(r.countByState.counts)}`);
    console.log(`    listOutOfDate(1000):       ${ms(r.outOfDate.serviceMs)} ms (median of ${r.outOfDate.runs}, ${r.outOfDate.rows} rows)`);
    console.log(`    same SQL, bare driver:     ${ms(r.outOfDate.bareMs)} ms`);
    console.log(`    ratio service/bare:        ${atMost(r.outOfDate.ratio, 2, '×', 2)}`);
    console.log(`    countByState():            ${ms(r.countByState.serviceMs)} ms (same SQL bare: ${ms(r.countByState.bareMs)} ms)`);
    console.log(
      `    GET /admin/sync (inject):  ${ms(r.page.firstMs)} ms first page; ?state=failed ${ms(r.page.failedMs)} ms; ?q=user12345 ${ms(r.page.searchMs)} ms (medians of ${r.page.runs})`,
    );
  };
  report(await benchSyncStatusQuery({ people: statusPeople }));
  const skip = await postgresUnreachable();
  if (skip) console.log(`  PostgreSQL: skipped: ${skip}`);
  else report(await benchSyncStatusQueryPostgres({ people: statusPeople }));
}

if (runs('decode')) {
  const result = await benchDecodeCost();
  const worst = result.timings[0]!;
  const outcome = (t: (typeof result.timings)[number]) => (t.outcome === 'accepted' ? 'accepted' : `refused: ${t.outcome.slice(0, 90)}`);
  console.log(
    `\nImage work per file (the hostile corpus with its decode bombs, plus the heaviest photos the limits accept and one just past them; ${result.files} files, each as a Graph upload, through SetMyProfilePicture and into Sites thumbnails, one at a time)`,
  );
  console.log(`  worst image work:          ${atMost(worst.ms, 2000, 'ms')}: ${worst.file} (${worst.path}), ${outcome(worst)}`);
  for (const t of result.timings.slice(1, 5))
    console.log(`  next:                      ${Math.round(t.ms)} ms: ${t.file} (${t.path}), ${outcome(t)}`);
  console.log(`  slowest file with a scan bomb in it: ${Math.round(result.slowestBombMs)} ms`);
}

if (runs('bulksync')) {
  console.log(
    `\nSync everyone at ${statusPeople.toLocaleString('en')} people (BENCH_PEOPLE; all already in sync, so the run is the pipeline: list, store the run and its jobs, workers take them, an ETag compare and the count per person), the server in this process with its workers, /healthz probed every 20 ms from another process`,
  );
  const line = (r: BulkSyncEventLoopResult) =>
    console.log(
      `  ${r.dialect === 'sqlite' ? 'SQLite:    ' : 'PostgreSQL:'} ${Math.round(r.peoplePerSecond).toLocaleString('en')} people/s (${r.runSeconds.toFixed(1)} s; starting it ${Math.round(r.startMs)} ms); /healthz p50 ${ms(r.healthz.p50Ms)} ms, p99 ${atMost(r.healthz.p99Ms, 50, 'ms', 1)}, max ${ms(r.healthz.maxMs)} ms (${r.healthz.probes} probes); event-loop delay p99 ${ms(r.eventLoop.p99Ms)} ms, max ${atMost(r.eventLoop.maxMs, 100, 'ms', 1)}`,
    );
  line(await benchBulkSyncEventLoop({ people: statusPeople }));
  const skip = await postgresUnreachable();
  if (skip) console.log(`  PostgreSQL: skipped: ${skip}`);
  else line(await benchBulkSyncEventLoopPostgres(statusPeople));
}

if (runs('burst')) {
  console.log(
    `\nOn-change burst (${burstChanges} people (BENCH_BURST) get a new photo through Graph PUTs on the first server, 8 in flight; lag from each PUT's 200 until the last server's userphoto.aspx serves it)`,
  );
  const photos = await generateSmallPhotos(burstChanges);
  const line = (r: OnChangeBurstResult) =>
    console.log(
      `  ${r.dialect === 'sqlite' ? 'SQLite, 1 process:    ' : `PostgreSQL, ${r.processes} processes:`} lag p50 ${ms(r.lag.p50Ms)} ms, p99 ${atMost(r.lag.p99Ms, 1000, 'ms', 1)}, max ${atMost(r.lag.maxMs, 2000, 'ms', 1)}; PUTs took ${r.burstSeconds.toFixed(1)} s; ${r.syncRunsPerChange.toFixed(2)} sync runs per change${r.jobsPerChange === null ? '' : `, ${r.jobsPerChange.toFixed(2)} jobs per change`}`,
    );
  line(await benchOnChangeBurst({ photos, processes: 1, inFlight: 8 }));
  const skip = await postgresUnreachable();
  if (skip) console.log(`  PostgreSQL: skipped: ${skip}`);
  else line(await benchOnChangeBurstPostgres(photos, 3, 8));
}

if (runs('ldap')) {
  console.log(
    `\nLDAP directory sync (${ldapEntries.toLocaleString('en')} entries (BENCH_LDAP_ENTRIES) in a real slapd on loopback, a third with a 96×96 JPEG thumbnailPhoto; paged search; the services in this process as \`photosync directory sync\` runs them)`,
  );
  const result = await benchLdapDirectorySync({ entries: ldapEntries, postgres: true });
  if (typeof result === 'string') console.log(`  skipped: ${result}`);
  else {
    const line = (r: LdapSyncBenchResult) => {
      const name = r.dialect === 'sqlite' ? 'SQLite:    ' : 'PostgreSQL:';
      console.log(
        `  ${name} first sync ${Math.round(r.first.peoplePerSecond).toLocaleString('en')} people/s (${r.first.seconds.toFixed(1)} s; ${r.first.report.counts.created} created, ${r.first.report.photosImported} photos imported, avg ${(r.averagePhotoBytes / 1024).toFixed(1)} KB; ${r.first.report.pages} pages of ${r.pageSize})`,
      );
      console.log(
        `  ${' '.repeat(name.length)} nothing changed: ${Math.round(r.second.peoplePerSecond).toLocaleString('en')} people/s (${r.second.seconds.toFixed(1)} s; ${r.second.report.counts.unchanged} unchanged, ${r.second.report.photosImported} photos imported)`,
      );
    };
    for (const r of result) line(r);
    if (!result.some((r) => r.dialect === 'postgres'))
      console.log(`  PostgreSQL: skipped: ${(await postgresUnreachable()) ?? 'not reachable'}`);
  }
}
