import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CLI_ACTOR } from '../identity/index.ts';
import { PHOTO_IMPORT_OUTCOMES, parseImportMapping, type ImportFile } from '../mail/index.ts';
import { CliFailure, EXIT, type CliContext } from './cli-io.ts';
import { cancelOnInterrupt, showProgress } from './progress-output.ts';

/** The files of a folder to import: regular files, not hidden, not CSV (the mapping may sit beside the photos). */
async function listImportFiles(dir: string): Promise<ImportFile[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliFailure(
      code === 'ENOENT' ? `There is no folder ${dir}.` : `Cannot read the folder ${dir}: ${code ?? String(error)}.`,
      EXIT.usage,
    );
  }
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.') && !/\.csv$/i.test(e.name))
    .map((e) => e.name)
    .sort()
    .map((name) => ({ name, read: () => fs.readFile(path.join(dir, name)) }));
}

/** `photosync photos import`: a folder of photos into Mail, matched by file name or a CSV. */
export function registerPhotoImportCommand(program: Command, { io, withServices, out, json }: CliContext): void {
  const photos = program.command('photos').description('many Mail photos at once');
  photos
    .command('import')
    .description('import a folder of photos named <upn>.jpg or <mail>.png, or mapped by a CSV (file,userPrincipalName)')
    .requiredOption('--dir <folder>', 'the folder with the photos')
    .option('--map <csvFile>', 'CSV with the columns file,userPrincipalName')
    .option('--dry-run', 'check every file and mapping, change nothing')
    .option('--json', 'print the report as JSON')
    .action(async (options: { dir: string; map?: string; dryRun?: boolean; json?: boolean }) => {
      const files = await listImportFiles(options.dir);
      let mappingText: string | undefined;
      if (options.map) {
        mappingText = await fs.readFile(options.map, 'utf8').catch((error: NodeJS.ErrnoException) => {
          throw new CliFailure(
            error.code === 'ENOENT' ? `There is no file ${options.map}.` : `Cannot read ${options.map}: ${error.code}.`,
            EXIT.usage,
          );
        });
      }
      const mapping = mappingText === undefined ? undefined : parseImportMapping(mappingText);
      await withServices(async ({ photoImporter, syncAdmin }) => {
        const { runId, report } = await photoImporter.start(CLI_ACTOR, files, {
          dryRun: options.dryRun === true,
          ...(mapping && { mapping }),
        });
        const stopListening = cancelOnInterrupt(() => syncAdmin.cancelRun(CLI_ACTOR, runId), io);
        await showProgress(async () => (await syncAdmin.findRun(CLI_ACTOR, runId))!, io).finally(stopListening);
        const result = await report;
        if (options.json) json(result);
        else {
          for (const problem of result.mappingProblems) out(`${options.map} line ${problem.line}: ${problem.message}`);
          for (const file of result.files) {
            if (file.outcome === 'bad-image' || file.outcome === 'unknown-person') out(`${file.file}: ${file.outcome}: ${file.reason}`);
          }
          const summary = PHOTO_IMPORT_OUTCOMES.filter((o) => result.counts[o] > 0 || o === 'imported').map(
            (o) => `${result.counts[o]} ${o}`,
          );
          out(
            `${result.dryRun ? 'Dry run (nothing changed): ' : ''}${result.cancelled ? 'Cancelled: ' : ''}${files.length} files: ${summary.join(', ')}.`,
          );
        }
        const failed = result.counts['bad-image'] + result.counts['unknown-person'] + result.mappingProblems.length;
        if (failed > 0 || result.cancelled) throw new CliFailure('', EXIT.failed);
      });
    });
}
