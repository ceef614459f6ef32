import cliProgress from 'cli-progress';
import type { BulkProgress, BulkRun } from '../bulk-run.ts';
import type { CliIo } from './cli-io.ts';

const PLAIN_LINE_EVERY_MS = 2000;

function formatEta(seconds: number | null): string {
  if (seconds === null) return '-';
  return seconds >= 90 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
}

function plainLine(p: BulkProgress): string {
  return `${p.done}/${p.total} done, ${p.failed} failed, ${p.ratePerSecond}/s, ETA ${formatEta(p.etaSeconds)}`;
}

/**
 * Shows a run's progress on standard error, so standard output stays clean for --json: a bar on a
 * terminal, a plain line every two seconds (and at the end) when piped. Returns when the run ends.
 */
export async function showProgress(run: BulkRun, io: CliIo): Promise<BulkProgress> {
  if (io.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: io.stderr as NodeJS.WriteStream,
        format: `${run.label} {bar} {percentage}% | {value}/{total} | {failed} failed | {rate}/s | ETA {eta_formatted}`,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(run.progress().total, 0, { failed: 0, rate: 0 });
    const stop = run.onProgress((p) => bar.update(p.done, { failed: p.failed, rate: p.ratePerSecond }));
    await run.finished;
    stop();
    bar.update(run.progress().done);
    bar.stop();
  } else {
    let lastLine = 0;
    const stop = run.onProgress((p) => {
      const now = Date.now();
      if (now - lastLine < PLAIN_LINE_EVERY_MS) return;
      lastLine = now;
      io.stderr.write(`${plainLine(p)}\n`);
    });
    await run.finished;
    stop();
    io.stderr.write(`${plainLine(run.progress())}\n`);
  }
  return run.progress();
}

/** Ctrl-C cancels the run (it stops after the items in flight) instead of killing the process mid-way. */
export function cancelOnInterrupt(run: BulkRun, io: CliIo): () => void {
  const onInterrupt = () => {
    io.stderr.write('\nCancelling after the items in progress…\n');
    run.cancel();
  };
  process.once('SIGINT', onInterrupt);
  return () => process.off('SIGINT', onInterrupt);
}
