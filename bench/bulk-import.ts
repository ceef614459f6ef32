import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServices } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { ImportReport } from '../src/mail/index.ts';
import { withJpegComment } from './bench-photos.ts';
import { childEnv, runNodeChild, type ChildRun } from './bench-support.ts';

export interface BulkImportResult {
  files: number;
  averageKb: number;
  /** `photosync photos import --json` in a child process, spawn to exit. */
  import: { seconds: number; filesPerSecond: number; peakRssMb: number };
  /** The same files through raw sharp's cascade in a child process, spawn to exit. */
  rawSharp: { seconds: number; filesPerSecond: number; peakRssMb: number };
  ratio: number;
  /** The same import again: every file unchanged. */
  secondImport: { seconds: number; peakRssMb: number };
}

const IN_FLIGHT = 2;

/**
 * Bulk import of `files` 12 MP JPEGs through the real CLI (a child process, SYNC_CONCURRENCY=2), against
 * a child process running raw sharp's cascade over the same files with 2 in flight. Both are timed
 * from spawn to exit, so both pay a node start; the import also pays tsx, the migrations check and
 * the directory look-ups, which is part of what it costs.
 */
export async function benchBulkImport(options: { files: number; basePhotos: readonly Buffer[] }): Promise<BulkImportResult> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-bench-import-'));
  const dataDir = path.join(workDir, 'data');
  const photoDir = path.join(workDir, 'photos');
  fs.mkdirSync(photoDir);
  try {
    const upns = Array.from({ length: options.files }, (_, i) => `import${i}@bench.example`);
    let totalBytes = 0;
    for (let i = 0; i < options.files; i++) {
      const photo = withJpegComment(options.basePhotos[i % options.basePhotos.length]!, `photosync bench import file ${i}`);
      totalBytes += photo.length;
      fs.writeFileSync(path.join(photoDir, `${upns[i]}.jpg`), photo);
    }
    const services = await createServices(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', SYNC_CONCURRENCY: String(IN_FLIGHT) }));
    try {
      for (const upn of upns) await services.directory.addPerson({ userPrincipalName: upn });
    } finally {
      await services.close();
    }

    const env = childEnv({ DATA_DIR: dataDir, SYNC_CONCURRENCY: String(IN_FLIGHT), LOG_LEVEL: 'warn' });
    const runImport = () => runNodeChild(['--import', 'tsx', 'src/main.ts', 'photos', 'import', '--dir', photoDir, '--json'], env);

    const raw = await runNodeChild(['--import', 'tsx', 'bench/raw-sharp-import-child.ts', photoDir, String(IN_FLIGHT)], childEnv({}));
    if (raw.code !== 0) throw new Error(`the raw sharp baseline exited with ${raw.code ?? raw.signal}: ${raw.stderr}`);
    const rawReport = JSON.parse(raw.stdout) as { files: number };
    if (rawReport.files !== options.files) throw new Error(`the raw sharp baseline saw ${rawReport.files} files, not ${options.files}`);

    const first = await runImport();
    expectReport(first, 'imported', options.files);
    const second = await runImport();
    expectReport(second, 'unchanged', options.files);

    const importPerSecond = options.files / first.wallSeconds;
    const rawPerSecond = options.files / raw.wallSeconds;
    return {
      files: options.files,
      averageKb: totalBytes / options.files / 1024,
      import: { seconds: first.wallSeconds, filesPerSecond: importPerSecond, peakRssMb: first.peakRssMb },
      rawSharp: { seconds: raw.wallSeconds, filesPerSecond: rawPerSecond, peakRssMb: raw.peakRssMb },
      ratio: importPerSecond / rawPerSecond,
      secondImport: { seconds: second.wallSeconds, peakRssMb: second.peakRssMb },
    };
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** The CLI succeeded and its JSON report counts every file with the expected outcome. */
function expectReport(run: ChildRun, outcome: 'imported' | 'unchanged', files: number): void {
  const context = () => `exit ${run.code ?? run.signal}; stderr: ${run.stderr.slice(-2000)}; stdout: ${run.stdout.slice(0, 2000)}`;
  let report: ImportReport;
  try {
    report = JSON.parse(run.stdout) as ImportReport;
  } catch {
    throw new Error(`photos import printed no JSON report (${context()})`);
  }
  if (run.code !== 0 || report.cancelled || report.counts[outcome] !== files || report.files.length !== files) {
    throw new Error(`photos import should have ${outcome} all ${files} files; its counts: ${JSON.stringify(report.counts)} (${context()})`);
  }
}
