import type { Command } from 'commander';
import { DIRECTORY_OUTCOMES, type DirectorySyncReport } from '../directory-sync/index.ts';
import { CLI_ACTOR } from '../identity/index.ts';
import { CliFailure, EXIT, type CliContext } from './cli-io.ts';
import { cancelOnInterrupt, showProgress } from './progress-output.ts';

/** The report's figures in one line: "created 3, updated 1, unchanged 996, …; 2 photos imported". */
export function summarizeDirectorySync(report: DirectorySyncReport): string {
  const counts = DIRECTORY_OUTCOMES.filter((o) => report.counts[o] > 0 || o === 'created').map((o) => `${o} ${report.counts[o]}`);
  const photos = report.dryRun
    ? `${report.entries.filter((e) => e.photo === 'would be offered').length} photos would be offered to the photo policy`
    : `${report.photosImported} photos imported`;
  return `${report.entriesRead} entries in ${report.pages} pages: ${counts.join(', ')}; ${photos}.`;
}

/** `photosync directory sync`: people and photos from the LDAP directory, now. */
export function registerDirectoryCommand(program: Command, { io, withServices, out, json }: CliContext): void {
  const directory = program.command('directory').description("people from the organization's LDAP directory (LDAP_* settings)");
  directory
    .command('sync')
    .description('add, update, disable and enable people and take their photos from the LDAP directory now')
    .option('--dry-run', 'read the directory and say what would change, change nothing')
    .option('--json', 'print the report as JSON')
    .action(async (options: { dryRun?: boolean; json?: boolean }) => {
      await withServices(async ({ directorySync, syncAdmin }) => {
        const { runId, report } = await directorySync.start(CLI_ACTOR, { dryRun: options.dryRun === true });
        const stopListening = cancelOnInterrupt(() => syncAdmin.cancelRun(CLI_ACTOR, runId), io);
        await showProgress(async () => (await syncAdmin.findRun(CLI_ACTOR, runId))!, io).finally(stopListening);
        const result = await report;
        if (options.json) json(result);
        else {
          for (const entry of result.entries.filter((e) => e.outcome === 'skipped' || e.outcome === 'failed' || e.photo === 'rejected')) {
            out(`${entry.item}: ${entry.outcome}: ${entry.reason ?? ''}`);
          }
          if (!result.error)
            out(
              `${result.dryRun ? 'Dry run (nothing changed): ' : ''}${result.status === 'cancelled' ? 'Cancelled: ' : ''}${summarizeDirectorySync(result)}`,
            );
          out(`Report: /admin/runs/${result.runId}`);
        }
        if (result.error) throw new CliFailure(`The directory sync failed: ${result.error}`, EXIT.failed);
        if (result.status !== 'finished') throw new CliFailure('', EXIT.failed);
      });
    });
}
