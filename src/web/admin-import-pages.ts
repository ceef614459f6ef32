import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { InvalidInput, ImageTooLarge } from '../errors.ts';
import { CsrfToken } from '../http/index.ts';
import type { RequestAuthentication } from '../identity/index.ts';
import {
  IMPORT_MAX_BYTES,
  PHOTO_IMPORT_OUTCOMES,
  parseImportMapping,
  type ImportFile,
  type PhotoImportOutcome,
  type ImportReport,
  type PhotoImporter,
} from '../mail/index.ts';
import { html, type SafeHtml } from './html.ts';
import { createPageRendering, csrfToken, PAGE } from './page-rendering.ts';

export interface AdminImportPagesOptions {
  photoImporter: PhotoImporter;
  auth: RequestAuthentication;
}

const MAX_FILES = 5000;

/** Each file's outcome in words (the counts line and the report's Result column). */
const OUTCOME_WORDS: Record<PhotoImportOutcome, string> = {
  imported: 'Imported',
  unchanged: 'Already their photo',
  'would-import': 'Would be imported',
  'unknown-person': 'Nobody matches',
  'bad-image': 'Not a usable photo',
};
const MAX_MAPPING_BYTES = 1024 * 1024;

/** A file part as the form's body holds it once it is on disk. */
interface ReceivedFile {
  name: string;
  path: string;
  tooLarge: boolean;
}

/** The form once its files are on disk (see saveUploadedFile): the photos as ReceivedFiles, the CSV as text. */
const ImportForm = Type.Object({
  _csrf: CsrfToken,
  photos: Type.Unsafe<ReceivedFile | ReceivedFile[]>({
    anyOf: [{ type: 'object' }, { type: 'array', items: { type: 'object' } }],
    description: 'The photo files',
    errorMessage: 'Choose the photos to import.',
  }),
  map: Type.Optional(Type.String({ title: 'mapping CSV', description: 'file,userPrincipalName rows' })),
  dryRun: Type.Optional(Type.Enum(['1'], { title: 'dry run choice' })),
});

const uploadDirs = new WeakMap<FastifyRequest, Promise<string>>();
/** Requests whose uploaded files an import took over (it deletes them when it is done). */
const handedOver = new WeakSet<FastifyRequest>();

async function removeUploads(request: FastifyRequest): Promise<void> {
  await uploadDirs
    .get(request)
    ?.then((dir) => fsp.rm(dir, { recursive: true, force: true }))
    .catch((error: unknown) =>
      request.log.warn({ err: error }, 'could not remove the uploaded files of an import; they stay in the temporary folder'),
    );
}

/**
 * Streams each uploaded file to a temporary folder as it arrives (hundreds of photos never sit in
 * memory); the import then reads them one at a time like the CLI reads a folder.
 */
async function saveUploadedFile(this: FastifyRequest, part: MultipartFile): Promise<void> {
  if (part.fieldname === 'map') {
    const bytes = await part.toBuffer().catch(() => {
      throw new InvalidInput(`The mapping CSV may be at most ${MAX_MAPPING_BYTES / 1024} KB.`);
    });
    (part as unknown as { value: string }).value = bytes.toString('utf8');
    return;
  }
  let dir = uploadDirs.get(this);
  if (!dir) {
    dir = fsp.mkdtemp(path.join(os.tmpdir(), 'photosync-import-'));
    uploadDirs.set(this, dir);
  }
  const name = path.basename(part.filename || 'unnamed');
  const file = path.join(await dir, temporaryFileName(name));
  await pipeline(part.file, fs.createWriteStream(file));
  const received: ReceivedFile = { name, path: file, tooLarge: part.file.truncated };
  (part as unknown as { value: ReceivedFile }).value = received;
}

/**
 * The name an upload gets on disk: random, then at most the last 100 characters of its own name with
 * only plain characters kept (easy to recognise in the folder). The person's name for it is kept
 * apart, so a name the file system cannot hold (over 255 bytes, any character) still imports.
 */
function temporaryFileName(name: string): string {
  return `${randomUUID()}-${name.replace(/[^A-Za-z0-9._@+-]/g, '_').slice(-100)}`;
}

/** The admin page that imports many photos at once, with an optional CSV mapping. */
export const registerAdminImportPages: FastifyPluginAsyncTypebox<AdminImportPagesOptions> = async (app, options) => {
  const { photoImporter, auth } = options;
  const { signedIn, page } = createPageRendering(auth);

  app.get('/admin/import', { config: PAGE, schema: { hide: true } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    photoImporter.assertCanImport(actor);
    return page(
      reply,
      actor,
      'Import photos',
      html`<h1>Import photos</h1>
        <form method="post" action="/admin/import" enctype="multipart/form-data" class="card">
          <input type="hidden" name="_csrf" value="${csrfToken(reply)}">
          <label for="photos">Photos</label>
          <input id="photos" name="photos" type="file" accept="image/jpeg,image/png" multiple required aria-describedby="photos-hint">
          <p id="photos-hint" class="hint">Name each file after the person's user principal name or mail (<code>ada@contoso.com.jpg</code>), or map the names in a CSV. JPEG or PNG, up to ${MAX_FILES} files. Each may be up to ${IMPORT_MAX_BYTES / 1024 / 1024} MB, so camera originals need no shrinking first (a person's own upload takes 4 MB).</p>
          <label for="map">Mapping CSV (optional)</label>
          <input id="map" name="map" type="file" accept=".csv,text/csv" aria-describedby="map-hint">
          <p id="map-hint" class="hint">A header row <code>file,userPrincipalName</code>, then one row per photo.</p>
          <label class="choice"><input type="checkbox" name="dryRun" value="1"> Dry run: check everything, change nothing</label>
          <div class="actions"><button type="submit">Import</button></div>
        </form>`,
    );
  });

  await app.register(async (scope) => {
    const uploads = scope.withTypeProvider<TypeBoxTypeProvider>();
    await uploads.register(multipart, {
      attachFieldsToBody: 'keyValues',
      onFile: saveUploadedFile,
      throwFileSizeLimit: false,
      limits: { fileSize: IMPORT_MAX_BYTES, files: MAX_FILES + 1, fields: 10, fieldSize: 4096 },
    });
    uploads.post(
      '/admin/import',
      {
        config: PAGE,
        // Who may import is settled before a byte of the body is written to disk.
        onRequest: async (request, reply) => {
          // An invalid credential counts as none: the refusal below answers it.
          const actor = await auth.findActor(request).catch(() => undefined);
          if (!actor) return reply.redirect('/signin?next=%2Fadmin%2Fimport', 303);
          photoImporter.assertCanImport(actor);
        },
        preValidation: uploads.csrfProtection,
        // Whatever refused the request after the files were written (CSRF, a bad CSV) leaves no files
        // behind: removed before the answer goes out.
        onSend: async (request) => {
          if (!handedOver.has(request)) await removeUploads(request);
        },
        onRequestAbort: async (request) => removeUploads(request),
        schema: { hide: true, body: ImportForm },
      },
      async (request, reply) => {
        const actor = await signedIn(request, reply);
        if (!actor) return reply;
        const received = ([] as ReceivedFile[]).concat(request.body.photos);
        const mapText = request.body.map;
        const mapping = mapText?.trim() ? parseImportMapping(mapText) : undefined;
        const files: ImportFile[] = received.map((f) => ({
          name: f.name,
          read: async () => {
            if (f.tooLarge) throw new ImageTooLarge(`The file is larger than ${IMPORT_MAX_BYTES / 1024 / 1024} MB.`);
            return fsp.readFile(f.path);
          },
        }));
        const { runId, report } = await photoImporter.start(actor, files, {
          dryRun: request.body.dryRun === '1',
          ...(mapping && { mapping }),
        });
        handedOver.add(request);
        const cleanUp = () => removeUploads(request);
        void report.then(cleanUp, cleanUp);
        return reply.redirect(`/admin/runs/${runId}`, 303);
      },
    );
  });
};

/** The report under a finished import's progress: every file's outcome and the CSV's bad rows. */
export function renderImportReport(report: ImportReport): SafeHtml {
  return html`<section class="card" aria-labelledby="report-heading">
    <h2 id="report-heading">${report.dryRun ? 'Dry run report (nothing was changed)' : 'Import report'}</h2>
    <ul class="counts" aria-label="Files per result">${PHOTO_IMPORT_OUTCOMES.filter((o) => report.counts[o] > 0 || o === 'imported').map((o) => html`<li><span class="count"><strong>${report.counts[o]}</strong> ${OUTCOME_WORDS[o]}</span></li>`)}</ul>
    ${
      report.mappingProblems.length
        ? html`<h3>Mapping CSV</h3><ul>${report.mappingProblems.map((p) => html`<li>Line ${p.line}: ${p.message}</li>`)}</ul>`
        : ''
    }
    <table class="stack import-report"><thead><tr><th scope="col">File</th><th scope="col">Person</th><th scope="col">Result</th></tr></thead>
    <tbody>${report.files.map((f) => html`<tr><td data-label="File">${f.file}</td><td data-label="Person">${f.userPrincipalName ?? '-'}</td><td data-label="Result" class="outcome-${f.outcome}"><div>${OUTCOME_WORDS[f.outcome]}${f.reason ? html`<br><span class="hint">${f.reason}</span>` : ''}</div></td></tr>`)}</tbody></table>
  </section>`;
}
