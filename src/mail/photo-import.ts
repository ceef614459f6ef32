import path from 'node:path';
import { describeActor, type AuditLog } from '../audit/index.ts';
import type { Logger } from 'pino';
import { forEachWithConcurrency, type BulkRuns } from '../runs/index.ts';
import { CsvSyntaxError, parseCsv, type DirectoryService } from '../directory/index.ts';
import { AppError, InvalidInput, NotPermitted, shown } from '../errors.ts';
import { isAdmin, type Actor } from '../identity/index.ts';
import { photoContentEtag, type MailPhotoService } from './mail-photo-service.ts';

/** Camera originals are often larger than the 4 MB an API upload may be; the pixel limit still holds. */
export const IMPORT_MAX_BYTES = 20 * 1024 * 1024;
/** Names a photo file may end in; the bytes decide whether it is one. */
const PHOTO_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.jfif', '.png']);

export type PhotoImportOutcome = 'imported' | 'unchanged' | 'would-import' | 'unknown-person' | 'bad-image';
export const PHOTO_IMPORT_OUTCOMES: readonly PhotoImportOutcome[] = [
  'imported',
  'unchanged',
  'would-import',
  'unknown-person',
  'bad-image',
];

/** A file to import; read only when its turn comes, so a large folder never sits in memory. */
export interface ImportFile {
  name: string;
  read(): Promise<Buffer>;
}

export interface ImportFileResult {
  file: string;
  outcome: PhotoImportOutcome;
  userPrincipalName: string | null;
  reason: string | null;
}

/** A CSV row that could not be used, by its line number. */
export interface MappingProblem {
  line: number;
  message: string;
}

export interface ImportReport {
  dryRun: boolean;
  cancelled: boolean;
  counts: Record<PhotoImportOutcome, number>;
  mappingProblems: MappingProblem[];
  files: ImportFileResult[];
}

function countOutcomes(files: readonly ImportFileResult[]): Record<PhotoImportOutcome, number> {
  return Object.fromEntries(PHOTO_IMPORT_OUTCOMES.map((o) => [o, files.filter((f) => f.outcome === o).length])) as Record<
    PhotoImportOutcome,
    number
  >;
}

export interface ImportMapping {
  /** Lower-case file name → UPN, with the line it came from. */
  byFile: Map<string, { userPrincipalName: string; line: number }>;
  problems: MappingProblem[];
}

/**
 * Reads a `file,userPrincipalName` CSV (header required, columns in any order). Bad rows are reported
 * by line and skipped; a file without a header or with broken quoting is refused as a whole.
 */
export function parseImportMapping(text: string): ImportMapping {
  let records;
  try {
    records = parseCsv(text);
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw new InvalidInput(`The mapping CSV cannot be read: ${error.message}`);
    throw error;
  }
  const header = records.shift();
  const columns = header?.fields.map((f) => f.trim().toLowerCase()) ?? [];
  const fileColumn = columns.indexOf('file');
  const upnColumn = columns.indexOf('userprincipalname');
  if (fileColumn < 0 || upnColumn < 0) {
    throw new InvalidInput('The mapping CSV needs a header row with the columns file and userPrincipalName.');
  }
  const byFile: ImportMapping['byFile'] = new Map();
  const problems: MappingProblem[] = [];
  for (const record of records) {
    const file = record.fields[fileColumn]?.trim() ?? '';
    const upn = record.fields[upnColumn]?.trim() ?? '';
    if (!file || !upn) {
      problems.push({ line: record.line, message: `needs both a file and a userPrincipalName (got "${shown(file)}", "${shown(upn)}")` });
    } else if (file.includes('/') || file.includes('\\')) {
      problems.push({ line: record.line, message: `"${shown(file)}" must be a file name, not a path` });
    } else if (byFile.has(file.toLowerCase())) {
      problems.push({ line: record.line, message: `${shown(file)} is already mapped on line ${byFile.get(file.toLowerCase())!.line}` });
    } else {
      byFile.set(file.toLowerCase(), { userPrincipalName: upn, line: record.line });
    }
  }
  return { byFile, problems };
}

export interface PhotoImportOptions {
  mapping?: ImportMapping;
  dryRun: boolean;
}

/**
 * Bulk import: each file is matched to a person (by the CSV, else by its name being their UPN or
 * mail) and stored through the same `MailPhotoService.setPhoto` as any upload. A file with the same
 * content as the current photo changes nothing, so running an import twice is harmless. A bad file
 * is reported and the run goes on; it never touches anyone's photo.
 */
export class PhotoImporter {
  constructor(
    private readonly mail: MailPhotoService,
    private readonly directory: DirectoryService,
    private readonly runs: BulkRuns,
    private readonly audit: AuditLog,
    private readonly options: { concurrency: number; log: Logger },
  ) {}

  assertCanImport(actor: Actor): void {
    if (!isAdmin(actor)) throw new NotPermitted('Only an admin can import photos.');
  }

  /** The report of an import, from the database: after a restart and from any server process. */
  async findReport(actor: Actor, runId: string): Promise<ImportReport | undefined> {
    this.assertCanImport(actor);
    const run = await this.runs.get(runId);
    if (run?.kind !== 'import') return undefined;
    const files: ImportFileResult[] = (await this.runs.items(runId)).map((item) => ({
      file: item.item,
      outcome: item.outcome as PhotoImportOutcome,
      userPrincipalName: item.detail,
      reason: item.reason,
    }));
    const summary = (run.summary ?? {}) as Partial<Pick<ImportReport, 'dryRun' | 'mappingProblems'>>;
    return {
      dryRun: summary.dryRun ?? run.label.startsWith('Dry run'),
      cancelled: run.status === 'cancelled' || run.status === 'interrupted',
      counts: countOutcomes(files),
      mappingProblems: summary.mappingProblems ?? [],
      files: files.sort((a, b) => a.file.localeCompare(b.file)),
    };
  }

  /**
   * Starts in the background and returns the run's id at once: progress and each file's result go
   * to the database as they happen (the run's page follows them from any process, and Cancel works
   * from any process); `report` settles when the run has ended.
   */
  async start(
    actor: Actor,
    files: readonly ImportFile[],
    options: PhotoImportOptions,
  ): Promise<{ runId: string; report: Promise<ImportReport> }> {
    this.assertCanImport(actor);
    const who = describeActor(actor, 'import');
    const runId = await this.runs.start({
      kind: 'import',
      label: options.dryRun ? `Dry run: import ${files.length} photos` : `Import ${files.length} photos`,
      startedBy: who.name,
      total: files.length,
    });
    const mappingProblems = [...(options.mapping?.problems ?? [])];
    const names = new Set(files.map((f) => f.name.toLowerCase()));
    for (const [file, { line }] of options.mapping?.byFile ?? []) {
      if (!names.has(file)) mappingProblems.push({ line, message: `${shown(file)} is not among the files` });
    }
    mappingProblems.sort((a, b) => a.line - b.line);

    const report = (async (): Promise<ImportReport> => {
      // The run's sign of life while a slow file is read: a run that stops beating lost its process.
      const heartbeat = setInterval(() => {
        this.runs
          .heartbeat(runId)
          .catch((error: unknown) => this.options.log.warn({ err: error, runId }, 'could not record that an import is alive'));
      }, 10_000).unref();
      let cancelled = false;
      try {
        await forEachWithConcurrency(
          files,
          this.options.concurrency,
          () => cancelled,
          async (file) => {
            if (!(await this.runs.isRunning(runId))) {
              cancelled = true;
              return;
            }
            const result = await this.importOne(actor, file, options);
            await this.runs.recordItem(runId, {
              item: file.name,
              outcome: result.outcome,
              failed: result.outcome === 'bad-image' || result.outcome === 'unknown-person',
              reason: result.reason,
              detail: result.userPrincipalName,
            });
          },
        );
        await this.runs.finish(runId, { dryRun: options.dryRun, mappingProblems });
        const finished = (await this.findReport(actor, runId))!;
        // A dry run changes nothing, not even the audit log.
        if (!options.dryRun)
          await this.audit.record({
            actor: who,
            action: 'import.run',
            detail: `${files.length} files: ${PHOTO_IMPORT_OUTCOMES.map((o) => `${finished.counts[o]} ${o}`).join(', ')}${finished.cancelled ? ' (cancelled)' : ''}`,
            ip: actor.ip ?? null,
          });
        return finished;
      } catch (error) {
        this.options.log.error(
          { err: error, runId, startedBy: who.name },
          'an import failed part-way; the files done so far are in its report',
        );
        await this.runs.markInterrupted(runId).catch(() => {
          // The tick marks a run that stopped beating as interrupted within a minute anyway.
        });
        throw error;
      } finally {
        clearInterval(heartbeat);
      }
    })();
    return { runId, report };
  }

  private async importOne(actor: Actor, file: ImportFile, options: PhotoImportOptions): Promise<ImportFileResult> {
    const mapped = options.mapping?.byFile.get(file.name.toLowerCase());
    const name = mapped?.userPrincipalName ?? path.parse(file.name).name;
    const person = await this.directory.findByUpnOrMail(name);
    if (!person) {
      // A file that is plainly no photo (readme.txt: no address in its name, no photo's ending) is
      // reported as that, not as a person nobody has.
      const extension = path.extname(file.name).toLowerCase();
      if (!mapped && !file.name.includes('@') && extension && !PHOTO_EXTENSIONS.has(extension)) {
        return {
          file: file.name,
          outcome: 'bad-image',
          userPrincipalName: null,
          reason: `not a photo (a ${shown(extension)} file): only JPEG and PNG photos are imported`,
        };
      }
      const reason = mapped
        ? `line ${mapped.line} of the CSV maps it to ${shown(name)}, who is not in the directory`
        : `nobody has the user principal name or mail "${shown(name)}" (name the file <upn>.jpg or map it in the CSV)`;
      return { file: file.name, outcome: 'unknown-person', userPrincipalName: null, reason };
    }
    const done = (outcome: PhotoImportOutcome, reason: string | null = null) => ({
      file: file.name,
      outcome,
      userPrincipalName: person.userPrincipalName,
      reason,
    });
    try {
      const bytes = await file.read();
      if (photoContentEtag(bytes) === (await this.mail.currentEtag(person))) return done('unchanged');
      if (options.dryRun) {
        // What the real run would be refused for (a photo the organization's directory manages) is said now.
        const refusal = await this.mail.changeRefusal(actor, person);
        if (refusal) return done('bad-image', refusal);
        await this.mail.checkPhoto(bytes, { maxBytes: IMPORT_MAX_BYTES, background: true });
        return done('would-import');
      }
      const { changed } = await this.mail.setPhoto(actor, person, bytes, 'import', { maxBytes: IMPORT_MAX_BYTES, background: true });
      return done(changed ? 'imported' : 'unchanged');
    } catch (error) {
      if (error instanceof AppError) return done('bad-image', error.message);
      return done('bad-image', `could not be read: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
