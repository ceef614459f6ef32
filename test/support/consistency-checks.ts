import SQLite from 'better-sqlite3';
import pg from 'pg';
import { sameColor, type DecodeCache, type SoakPhoto } from './soak-photos.ts';

/** One thing found wrong: a category (what kind of bug) and the exact details. */
export interface Finding {
  category: string;
  detail: string;
}

export interface VersionRow {
  id: string;
  person_id: string;
  etag: string;
  width: number;
  height: number;
  sizes: string;
  state: string;
  ended_at: string | null;
}

export interface RenditionRow {
  version_id: string;
  size: number;
  width: number;
  height: number;
  content_type: string;
  bytes: Buffer;
}

export interface ProfileRow {
  person_id: string;
  synced_etag: string | null;
  picture_timestamp: string;
  last_synced_at: string | null;
}

export interface ThumbnailRow {
  person_id: string;
  size: string;
  source_etag: string;
  width: number;
  height: number;
  bytes: Buffer;
}

/** Everything the checks read, from one consistent snapshot of the database (one read transaction). */
export interface Snapshot {
  people: { id: string; upn: string }[];
  versions: VersionRow[];
  renditions: RenditionRow[];
  profiles: ProfileRow[];
  thumbnails: ThumbnailRow[];
  /** Distinct (person, result, Mail ETag) of the recorded sync runs. */
  runs: { person_id: string; result: string; mail_etag: string | null }[];
  /** The photo changes in the audit log. */
  audit: { target_id: string | null; action: string; detail: string | null }[];
  /** What the database's own consistency check reported (empty: fine). */
  integrity: string[];
  /** PostgreSQL: the sync jobs in pg-boss by state, for diagnosis. */
  jobs?: Record<string, number>;
}

/** Per person: the ETag of Mail's current photo and the one Sites last synced (null: none / placeholder). */
export type MailAndSites = Map<string, { mail: string | null; sites: string | null; trigger?: string | null }>;

export interface SnapshotReader {
  read(options?: { fullIntegrity?: boolean }): Promise<Snapshot>;
  /** The cheap read the convergence wait polls. */
  mailAndSites(): Promise<MailAndSites>;
  /** The sync requests of these people still waiting or running (pg-boss jobs, or SQLite's queue), one line each. */
  unfinishedJobs(personIds: readonly string[]): Promise<Map<string, string[]>>;
  close(): Promise<void>;
}

const QUERIES = {
  people: 'select id, user_principal_name as upn from people order by upn_key',
  versions: 'select id, person_id, etag, width, height, sizes, state, ended_at from photo_versions',
  renditions: 'select version_id, size, width, height, content_type, bytes from photo_renditions',
  profiles: 'select person_id, synced_etag, picture_timestamp, last_synced_at from site_profiles',
  thumbnails: 'select person_id, size, source_etag, width, height, bytes from site_thumbnails',
  runs: 'select distinct person_id, result, mail_etag from sync_runs',
  audit: "select target_id, action, detail from audit_log where action in ('photo.set', 'photo.replace', 'photo.remove')",
  mailAndSites: `select p.id,
      (select v.etag from photo_versions v where v.person_id = p.id and v.state = 'current') as mail,
      (select s.synced_etag from site_profiles s where s.person_id = p.id) as sites,
      (select s.last_trigger from site_profiles s where s.person_id = p.id) as trigger
    from people p`,
};

/** Reads the SQLite file read-only (the server may be running: WAL lets a reader see one committed snapshot). */
export function sqliteSnapshotReader(file: string): SnapshotReader {
  const open = () => new SQLite(file, { readonly: true, fileMustExist: true });
  return {
    async read(options = {}) {
      const db = open();
      try {
        db.pragma('busy_timeout = 10000');
        const all = <T>(query: string) => db.prepare(query).all() as T[];
        const snapshot = db.transaction((): Snapshot => ({
          people: all(QUERIES.people),
          versions: all(QUERIES.versions),
          renditions: all(QUERIES.renditions),
          profiles: all(QUERIES.profiles),
          thumbnails: all(QUERIES.thumbnails),
          runs: all(QUERIES.runs),
          audit: all(QUERIES.audit),
          integrity: [],
        }))();
        const check = db.pragma(options.fullIntegrity ? 'integrity_check' : 'quick_check') as Record<string, string>[];
        const messages = check.map((row) => Object.values(row)[0]).filter((m) => m !== 'ok');
        const foreignKeys = db.pragma('foreign_key_check') as { table: string; rowid: number; parent: string }[];
        snapshot.integrity = [
          ...messages.map((m) => `${options.fullIntegrity ? 'integrity_check' : 'quick_check'}: ${m}`),
          ...foreignKeys.map((f) => `foreign_key_check: ${f.table} rowid ${f.rowid} points at a missing ${f.parent} row`),
        ];
        return snapshot;
      } finally {
        db.close();
      }
    },
    async mailAndSites() {
      const db = open();
      try {
        db.pragma('busy_timeout = 10000');
        const rows = db.prepare(QUERIES.mailAndSites).all() as {
          id: string;
          mail: string | null;
          sites: string | null;
          trigger: string | null;
        }[];
        return new Map(rows.map((r) => [r.id, { mail: r.mail, sites: r.sites, trigger: r.trigger }]));
      } finally {
        db.close();
      }
    },
    async unfinishedJobs(personIds) {
      const found = new Map<string, string[]>(personIds.map((id) => [id, []]));
      const db = open();
      try {
        db.pragma('busy_timeout = 10000');
        const hasQueue = db.prepare("select name from sqlite_master where type = 'table' and name = 'sync_jobs'").get();
        if (!hasQueue) return found;
        const jobs = db
          .prepare(
            `select p.value as person_id, j.state, j.created_at, j.attempts from sync_jobs j, json_each(j.person_ids) p where p.value in (${personIds.map(() => '?').join(', ')}) order by j.created_at`,
          )
          .all(...personIds) as { person_id: string; state: string; created_at: string; attempts: number }[];
        for (const job of jobs) found.get(job.person_id)?.push(`${job.state} (created ${job.created_at}, attempts ${job.attempts})`);
        return found;
      } finally {
        db.close();
      }
    },
    async close() {},
  };
}

/** Reads PostgreSQL in one REPEATABLE READ, READ ONLY transaction: one snapshot, never a write. */
export async function postgresSnapshotReader(url: string): Promise<SnapshotReader> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const rows = async <T>(query: string) => (await client.query(query)).rows as T[];
  return {
    async read() {
      await client.query('begin isolation level repeatable read read only');
      try {
        const snapshot: Snapshot = {
          people: await rows(QUERIES.people),
          versions: await rows(QUERIES.versions),
          renditions: await rows(QUERIES.renditions),
          profiles: await rows(QUERIES.profiles),
          thumbnails: await rows(QUERIES.thumbnails),
          runs: await rows(QUERIES.runs),
          audit: await rows(QUERIES.audit),
          integrity: [],
        };
        // Foreign keys are enforced by PostgreSQL itself; check the parents anyway (a missing one is an orphan).
        const orphans = await rows<{ what: string; n: string }>(`
          select 'photo_renditions without their photo_versions row' as what, count(*) as n from photo_renditions r where not exists (select 1 from photo_versions v where v.id = r.version_id)
          union all select 'photo_versions without their person', count(*) from photo_versions v where not exists (select 1 from people p where p.id = v.person_id)
          union all select 'site_profiles without their person', count(*) from site_profiles s where not exists (select 1 from people p where p.id = s.person_id)
          union all select 'site_thumbnails without their person', count(*) from site_thumbnails t where not exists (select 1 from people p where p.id = t.person_id)`);
        snapshot.integrity = orphans.filter((o) => Number(o.n) > 0).map((o) => `${o.n} ${o.what}`);
        const hasBoss = (await rows<{ name: string | null }>("select to_regclass('pgboss.job')::text as name"))[0]?.name;
        if (hasBoss) {
          const jobs = await rows<{ state: string; n: string }>(
            "select state::text as state, count(*) as n from pgboss.job where name = 'photosync-sync-requests' group by state",
          );
          snapshot.jobs = Object.fromEntries(jobs.map((j) => [j.state, Number(j.n)]));
        }
        return snapshot;
      } finally {
        await client.query('rollback');
      }
    },
    async mailAndSites() {
      const found = await rows<{ id: string; mail: string | null; sites: string | null; trigger: string | null }>(QUERIES.mailAndSites);
      return new Map(found.map((r) => [r.id, { mail: r.mail, sites: r.sites, trigger: r.trigger }]));
    },
    async unfinishedJobs(personIds) {
      const found = new Map<string, string[]>(personIds.map((id) => [id, []]));
      const hasBoss = (await rows<{ name: string | null }>("select to_regclass('pgboss.job')::text as name"))[0]?.name;
      if (!hasBoss) return found;
      const jobs = (
        await client.query(
          `select p.id as person_id, j.state::text as state, j.created_on, j.started_on, j.retry_count
             from pgboss.job j, jsonb_array_elements_text(j.data->'personIds') p(id)
            where j.name = 'photosync-sync-requests' and j.state < 'completed' and p.id = any($1) order by j.created_on`,
          [personIds],
        )
      ).rows as { person_id: string; state: string; created_on: Date; started_on: Date | null; retry_count: number }[];
      for (const job of jobs) {
        found
          .get(job.person_id)
          ?.push(
            `${job.state} (created ${job.created_on.toISOString()}${job.started_on ? `, started ${job.started_on.toISOString()}` : ''}, retries ${job.retry_count})`,
          );
      }
      return found;
    },
    async close() {
      await client.end();
    },
  };
}

export interface CheckResult {
  findings: Finding[];
  /** How many individual checks held. */
  passed: number;
}

const SQUARE: Record<string, number> = { S: 48, M: 72 };

/**
 * The invariants that must hold in any committed state, whatever moment the server died at:
 * Mail: at most one current version per person; a current version has exactly the renditions its
 * `sizes` lists, each a decodable JPEG of its size showing that version's picture; ended versions
 * keep no renditions (no orphans). Sites: a person has either no thumbnails and no synced ETag (the
 * placeholder) or exactly S, M and L, all from the synced ETag, which is a photo Mail had for them;
 * no thumbnails without a profile row. Every photo change is in the audit log (same transaction), and
 * the run that produced Sites' current copy is in the sync history.
 */
export async function checkSnapshot(
  snapshot: Snapshot,
  photos: ReadonlyMap<string, SoakPhoto>,
  decoder: DecodeCache,
): Promise<CheckResult> {
  const findings: Finding[] = [];
  let passed = 0;
  const check = (ok: boolean, category: string, detail: () => string) => {
    if (ok) passed++;
    else findings.push({ category, detail: detail() });
  };
  const upnOf = new Map(snapshot.people.map((p) => [p.id, p.upn]));
  const who = (personId: string) => upnOf.get(personId) ?? `person ${personId}`;

  for (const problem of snapshot.integrity) findings.push({ category: 'database integrity', detail: problem });
  passed += snapshot.integrity.length === 0 ? 1 : 0;

  // --- Mail ---
  const versionsById = new Map(snapshot.versions.map((v) => [v.id, v]));
  const renditionsByVersion = new Map<string, RenditionRow[]>();
  for (const r of snapshot.renditions) {
    const list = renditionsByVersion.get(r.version_id) ?? [];
    list.push(r);
    renditionsByVersion.set(r.version_id, list);
  }
  const etagsOfPerson = new Map<string, Set<string>>();
  for (const v of snapshot.versions) {
    const set = etagsOfPerson.get(v.person_id) ?? new Set();
    set.add(v.etag);
    etagsOfPerson.set(v.person_id, set);
  }
  for (const person of snapshot.people) {
    const current = snapshot.versions.filter((v) => v.person_id === person.id && v.state === 'current');
    check(
      current.length <= 1,
      'Mail: more than one current version',
      () => `${person.upn} has ${current.length} current versions: ${current.map((v) => `${v.id} (ETag ${v.etag})`).join(', ')}`,
    );
  }
  const decodes: Promise<void>[] = [];
  for (const v of snapshot.versions) {
    check(
      ['current', 'replaced', 'removed'].includes(v.state),
      'Mail: bad version row',
      () => `version ${v.id} of ${who(v.person_id)} has state "${v.state}"`,
    );
    check(
      (v.state === 'current') === (v.ended_at === null),
      'Mail: bad version row',
      () => `version ${v.id} of ${who(v.person_id)} is ${v.state} with ended_at ${v.ended_at}`,
    );
    const photo = photos.get(v.etag);
    check(
      photo !== undefined,
      'Mail: version of a photo never uploaded',
      () => `version ${v.id} of ${who(v.person_id)} has ETag ${v.etag}, which no client uploaded`,
    );
    const renditions = renditionsByVersion.get(v.id) ?? [];
    if (v.state !== 'current') {
      check(
        renditions.length === 0,
        'Mail: orphan renditions',
        () =>
          `version ${v.id} of ${who(v.person_id)} is ${v.state} (ended ${v.ended_at}) but still has ${renditions.length} rendition rows (sizes ${renditions.map((r) => r.size).join(',')})`,
      );
      continue;
    }
    const listed = v.sizes.split(',').map(Number);
    const stored = renditions.map((r) => r.size).sort((a, b) => b - a);
    check(
      listed.join(',') === stored.join(','),
      'Mail: rendition set incomplete',
      () =>
        `current version ${v.id} of ${who(v.person_id)} (ETag ${v.etag}) lists sizes ${v.sizes} but has rendition rows for ${stored.join(',') || 'none'}`,
    );
    if (photo) {
      check(
        v.sizes === photo.mailSizes.join(','),
        'Mail: wrong sizes',
        () =>
          `current version ${v.id} of ${who(v.person_id)} lists sizes ${v.sizes}; a ${photo.width}×${photo.height} upload gives ${photo.mailSizes.join(',')}`,
      );
      check(
        v.width === photo.mailSizes[0] && v.height === photo.mailSizes[0],
        'Mail: wrong sizes',
        () => `current version ${v.id} of ${who(v.person_id)} says ${v.width}×${v.height}, not ${photo.mailSizes[0]}×${photo.mailSizes[0]}`,
      );
    }
    for (const r of renditions) {
      check(
        r.width === r.size && r.height === r.size && r.content_type === 'image/jpeg',
        'Mail: rendition row wrong',
        () => `rendition ${r.size} of version ${v.id} (${who(v.person_id)}) is ${r.width}×${r.height} ${r.content_type}`,
      );
      decodes.push(
        decoder.decode(Buffer.from(r.bytes)).then((d) => {
          if ('error' in d) {
            findings.push({
              category: 'Mail: rendition does not decode',
              detail: `rendition ${r.size} of version ${v.id} (${who(v.person_id)}, ETag ${v.etag}): ${d.error}`,
            });
            return;
          }
          check(
            d.format === 'jpeg' && d.width === r.size && d.height === r.size,
            'Mail: rendition bytes wrong',
            () => `rendition ${r.size} of version ${v.id} (${who(v.person_id)}) decodes to a ${d.width}×${d.height} ${d.format}`,
          );
          if (photo) {
            check(
              sameColor(d.mean, photo.color),
              'Mail: rendition of another version',
              () =>
                `rendition ${r.size} of version ${v.id} (${who(v.person_id)}, ETag ${v.etag}) has mean colour ${d.mean.join(',')}, but that ETag's photo is ${photo.color.join(',')}${describeColor(d.mean, photos)}`,
            );
          }
        }),
      );
    }
  }
  for (const [versionId, rows] of renditionsByVersion) {
    check(
      versionsById.has(versionId),
      'Mail: orphan renditions',
      () => `${rows.length} rendition rows belong to version ${versionId}, which has no photo_versions row`,
    );
  }

  // --- Sites ---
  const profiles = new Map(snapshot.profiles.map((p) => [p.person_id, p]));
  const thumbnailsByPerson = new Map<string, ThumbnailRow[]>();
  for (const t of snapshot.thumbnails) {
    const list = thumbnailsByPerson.get(t.person_id) ?? [];
    list.push(t);
    thumbnailsByPerson.set(t.person_id, list);
  }
  const runs = new Set(snapshot.runs.map((r) => `${r.person_id}|${r.result}|${r.mail_etag ?? ''}`));
  for (const [personId, thumbnails] of thumbnailsByPerson) {
    check(
      profiles.has(personId),
      'Sites: orphan thumbnails',
      () =>
        `${who(personId)} has ${thumbnails.length} site_thumbnails rows (${thumbnails.map((t) => `${t.size} from ${t.source_etag}`).join(', ')}) but no site_profiles row`,
    );
  }
  for (const person of snapshot.people) {
    const profile = profiles.get(person.id);
    const thumbnails = thumbnailsByPerson.get(person.id) ?? [];
    const synced = profile?.synced_etag ?? null;
    const describeSet = () => thumbnails.map((t) => `${t.size} from ${t.source_etag}`).join(', ') || 'no thumbnails';
    if (synced === null) {
      check(
        thumbnails.length === 0,
        'Sites: mixed set',
        () => `${person.upn}: site_profiles.synced_etag is null (placeholder) but site_thumbnails holds ${describeSet()}`,
      );
      continue;
    }
    const sizes = thumbnails
      .map((t) => t.size)
      .sort()
      .join(',');
    check(
      sizes === 'L,M,S',
      'Sites: mixed set',
      () => `${person.upn}: synced_etag ${synced} but the thumbnails are ${describeSet()} (want exactly S, M and L)`,
    );
    check(
      thumbnails.every((t) => t.source_etag === synced),
      'Sites: mixed set',
      () => `${person.upn}: synced_etag ${synced} but the thumbnails are ${describeSet()}`,
    );
    check(
      etagsOfPerson.get(person.id)?.has(synced) === true,
      'Sites: photo Mail never had',
      () => `${person.upn}: Sites shows ETag ${synced}, which was never a Mail version of this person`,
    );
    check(
      Boolean(profile?.picture_timestamp) && Boolean(profile?.last_synced_at),
      'Sites: properties of no version',
      () =>
        `${person.upn}: synced_etag ${synced} with SPS-PictureTimestamp "${profile?.picture_timestamp}" and last_synced_at ${profile?.last_synced_at}`,
    );
    check(
      runs.has(`${person.id}|synced|${synced}`),
      'Sync history: the run that made the current Sites copy is missing',
      () =>
        `${person.upn}: Sites holds the copy of Mail ETag ${synced} (last_synced_at ${profile?.last_synced_at}) but sync_runs has no "synced" run for that ETag`,
    );
    const photo = photos.get(synced);
    for (const t of thumbnails) {
      decodes.push(
        decoder.decode(Buffer.from(t.bytes)).then((d) => {
          if ('error' in d) {
            findings.push({
              category: 'Sites: thumbnail does not decode',
              detail: `${person.upn} ${t.size} (from ${t.source_etag}): ${d.error}`,
            });
            return;
          }
          const square = SQUARE[t.size];
          const sizeOk =
            square !== undefined
              ? d.width === square && d.height === square
              : d.width === d.height && d.width === (photo?.siteLargeSide ?? d.width);
          check(
            sizeOk && d.width === t.width && d.height === t.height && d.format === 'jpeg',
            'Sites: thumbnail bytes wrong',
            () =>
              `${person.upn} ${t.size} (from ${t.source_etag}): row says ${t.width}×${t.height}, bytes are a ${d.width}×${d.height} ${d.format}${photo ? `; want ${square ?? photo.siteLargeSide} px` : ''}`,
          );
          const source = photos.get(t.source_etag);
          if (source) {
            check(
              sameColor(d.mean, source.color),
              'Sites: thumbnail of another version',
              () =>
                `${person.upn} ${t.size} is labelled ${t.source_etag} (colour ${source.color.join(',')}) but shows ${d.mean.join(',')}${describeColor(d.mean, photos)}`,
            );
          }
        }),
      );
    }
  }
  await Promise.all(decodes);

  // --- Audit: every photo change committed with its audit row ---
  const auditCounts = new Map<string, number>();
  for (const a of snapshot.audit) {
    const etag = /ETag ([0-9a-f]{32})/.exec(a.detail ?? '')?.[1] ?? '?';
    const kind = a.action === 'photo.remove' ? 'remove' : 'set';
    const key = `${a.target_id}|${kind}|${etag}`;
    auditCounts.set(key, (auditCounts.get(key) ?? 0) + 1);
  }
  const versionCounts = new Map<string, number>();
  for (const v of snapshot.versions) {
    versionCounts.set(`${v.person_id}|set|${v.etag}`, (versionCounts.get(`${v.person_id}|set|${v.etag}`) ?? 0) + 1);
    if (v.state === 'removed')
      versionCounts.set(`${v.person_id}|remove|${v.etag}`, (versionCounts.get(`${v.person_id}|remove|${v.etag}`) ?? 0) + 1);
  }
  for (const key of new Set([...auditCounts.keys(), ...versionCounts.keys()])) {
    const [personId, kind, etag] = key.split('|') as [string, string, string];
    const inAudit = auditCounts.get(key) ?? 0;
    const inMail = versionCounts.get(key) ?? 0;
    check(
      inAudit === inMail,
      'Audit log out of step with Mail',
      () => `${who(personId)}: ${inMail} Mail ${kind === 'set' ? 'versions' : 'removals'} of ETag ${etag} but ${inAudit} audit rows for it`,
    );
  }
  return { findings, passed };
}

function describeColor(mean: [number, number, number], photos: ReadonlyMap<string, SoakPhoto>): string {
  for (const photo of photos.values())
    if (sameColor(mean, photo.color)) return ` — the colour of upload #${photo.index} (ETag ${photo.etag})`;
  return '';
}

/**
 * The findings of a run, each kept once with every place it was seen: a broken row found again by
 * every later snapshot is one finding seen N times, not N findings.
 */
export class FindingLog {
  private readonly byKey = new Map<string, Finding & { where: string[] }>();
  /** Failed checks, counting repeats. */
  failed = 0;

  add(finding: Finding, where: string): void {
    this.failed++;
    const key = `${finding.category}\n${finding.detail}`;
    const known = this.byKey.get(key);
    if (known) known.where.push(where);
    else this.byKey.set(key, { ...finding, where: [where] });
  }

  get unique(): (Finding & { where: string[] })[] {
    return [...this.byKey.values()];
  }

  /** Distinct findings per category (what the test asserts is empty). */
  byCategory(): Record<string, number> {
    const groups: Record<string, number> = {};
    for (const f of this.byKey.values()) groups[f.category] = (groups[f.category] ?? 0) + 1;
    return groups;
  }
}

/**
 * What Sites serves for a person matches what the database says Sites holds: S, M and L (asked with
 * a token, which never triggers a sync) carry the synced ETag and show that photo, and the profile
 * properties (PictureURL, SPS-PicturePlaceholderState, PhotoSync-SyncedMailETag) describe the same
 * version — or all say placeholder.
 */
export async function checkServedSites(
  baseUrl: string,
  person: { upn: string; token: string },
  synced: string | null,
  photos: ReadonlyMap<string, SoakPhoto>,
  decoder: DecodeCache,
): Promise<CheckResult> {
  const findings: Finding[] = [];
  let passed = 0;
  const check = (ok: boolean, detail: () => string) => {
    if (ok) passed++;
    else findings.push({ category: 'Sites serves another version than it holds', detail: `${person.upn}: ${detail()}` });
  };
  const headers = { authorization: `Bearer ${person.token}` };
  const photo = synced ? photos.get(synced) : undefined;
  for (const size of ['S', 'M', 'L'] as const) {
    const response = await fetch(`${baseUrl}/_layouts/15/userphoto.aspx?size=${size}&accountname=${encodeURIComponent(person.upn)}`, {
      headers,
      signal: AbortSignal.timeout(20_000),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const etag = response.headers.get('etag') ?? '';
    if (synced) {
      check(
        response.status === 200 && etag === `"${synced}-${size}"`,
        () => `userphoto.aspx size ${size} answers ${response.status} with ETag ${etag}; the database holds ${synced}`,
      );
      const decoded = await decoder.decode(bytes);
      if (photo && !('error' in decoded))
        check(
          sameColor(decoded.mean, photo.color),
          () => `userphoto.aspx size ${size} shows colour ${decoded.mean.join(',')}, not ${photo.color.join(',')} of ${synced}`,
        );
    } else {
      check(
        response.status === 200 && etag.startsWith('"placeholder-'),
        () => `userphoto.aspx size ${size} answers ${response.status} with ETag ${etag}; the database holds the placeholder`,
      );
    }
  }
  const account = `'i:0#.f|membership|${person.upn.toLowerCase()}'`;
  const response = await fetch(
    `${baseUrl}/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v=${encodeURIComponent(account)}`,
    {
      headers: { ...headers, accept: 'application/json' },
      signal: AbortSignal.timeout(20_000),
    },
  );
  const text = await response.text();
  let properties = new Map<string, string>();
  try {
    const body = JSON.parse(text) as { UserProfileProperties?: { Key: string; Value: string }[] };
    properties = new Map((body.UserProfileProperties ?? []).map((p) => [p.Key, p.Value]));
  } catch {
    // left empty: reported below
  }
  check(response.status === 200 && properties.size > 0, () => `GetPropertiesFor answers ${response.status} ${text.slice(0, 200)}`);
  const shown = {
    synced: properties.get('PhotoSync-SyncedMailETag') ?? '?',
    placeholder: properties.get('SPS-PicturePlaceholderState') ?? '?',
    url: properties.get('PictureURL') ?? '?',
    timestamp: properties.get('SPS-PictureTimestamp') ?? '?',
  };
  const describe = () =>
    `properties say PhotoSync-SyncedMailETag "${shown.synced}", SPS-PicturePlaceholderState ${shown.placeholder}, PictureURL "${shown.url}", SPS-PictureTimestamp "${shown.timestamp}"; the database holds ${synced ?? 'the placeholder'}`;
  if (synced)
    check(shown.synced === synced && shown.placeholder === '0' && shown.url.endsWith('_MThumb.jpg') && shown.timestamp !== '', describe);
  else check(shown.synced === '' && shown.placeholder === '1' && shown.url === '', describe);
  return { findings, passed };
}
