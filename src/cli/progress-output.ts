import type { BulkProgress } from '../runs/index.ts';
import type { CliIo } from './cli-io.ts';

const PLAIN_LINE_EVERY_MS = 2000;

function formatEta(seconds: number | null): string {
  if (seconds === null) return '-';
  return seconds >= 90 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
}

function plainLine(p: BulkProgress): string {
  return `${p.done}/${p.total} done, ${p.failed} failed, ${p.ratePerSecond}/s, ETA ${formatEta(p.etaSeconds)}`;
}

/** How often the command reads its run from the database. */
const READ_EVERY_MS = 200;

/**
 * Shows a run's progress on standard error, so standard output stays clean for --json: a bar on a
 * terminal, a plain line every two seconds (and at the end) when piped. The run lives in the
 * database (workers of any process may do its work): this reads it until it is over.
 */
export async function showProgress(readProgress: () => Promise<BulkProgress>, io: CliIo): Promise<BulkProgress> {
  let progress = await readProgress();
  // Loaded here: the commands that show no bar start without it.
  const cliProgress = io.stderr.isTTY ? (await import('cli-progress')).default : undefined;
  const bar = cliProgress
    ? new cliProgress.SingleBar(
        {
          stream: io.stderr as NodeJS.WriteStream,
          format: `${progress.label} {bar} {percentage}% | {value}/{total} | {failed} failed | {rate}/s | ETA {eta_formatted}`,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(progress.total, progress.done, { failed: progress.failed, rate: progress.ratePerSecond });
  let lastLine = Date.now();
  while (progress.status === 'running') {
    await new Promise((resolve) => setTimeout(resolve, READ_EVERY_MS));
    progress = await readProgress();
    bar?.update(progress.done, { failed: progress.failed, rate: progress.ratePerSecond });
    if (!bar && Date.now() - lastLine >= PLAIN_LINE_EVERY_MS) {
      lastLine = Date.now();
      io.stderr.write(`${plainLine(progress)}\n`);
    }
  }
  if (bar) bar.stop();
  else io.stderr.write(`${plainLine(progress)}\n`);
  return progress;
}

/** Ctrl-C cancels the run (it stops after the items in flight) instead of killing the process mid-way. */
export function cancelOnInterrupt(cancel: () => Promise<unknown>, io: CliIo): () => void {
  const onInterrupt = () => {
    io.stderr.write('\nCancelling after the items in progress…\n');
    cancel().catch((error: unknown) => io.stderr.write(`Could not cancel: ${error instanceof Error ? error.message : String(error)}\n`));
  };
  process.once('SIGINT', onInterrupt);
  return () => process.off('SIGINT', onInterrupt);
}
