import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { SiteThumbnail, SiteThumbnailSize } from '../imaging/index.ts';
import { isUniqueViolation, type Schema, type SiteProfilesTable } from '../storage/index.ts';
import type { SiteProfile } from './site-profile.ts';

function toProfile(row: Selectable<SiteProfilesTable>): SiteProfile {
  return {
    personId: row.person_id,
    syncedEtag: row.synced_etag,
    pictureTimestamp: row.picture_timestamp,
    lastCheckedAt: row.last_checked_at,
    lastSyncedAt: row.last_synced_at,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at,
    lastTrigger: row.last_trigger,
    pictureName: row.picture_name ?? null,
  };
}

/** SharePoint's file stem of a person's UPN, in SQL: the same expression as the index people_picture_stem. */
const fileStemOfUpn = sql<string>`replace(replace(upn_key, '@', '_'), '.', '_')`;

export interface StoredThumbnail {
  size: SiteThumbnailSize;
  sourceEtag: string;
  width: number;
  height: number;
  bytes: Buffer;
}

/** Sites' queries: profiles and their thumbnails. */
export class SiteStore {
  constructor(private readonly db: Kysely<Schema>) {}

  transaction<T>(work: (trx: Transaction<Schema>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }

  async findProfile(personId: string, db: Kysely<Schema> | Transaction<Schema> = this.db): Promise<SiteProfile | undefined> {
    const row = await db.selectFrom('site_profiles').selectAll().where('person_id', '=', personId).executeTakeFirst();
    return row && toProfile(row);
  }

  /** The synced Mail ETag of each of these people that has a Sites profile. */
  async findSyncedEtags(personIds: readonly string[]): Promise<Map<string, string | null>> {
    if (personIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('site_profiles')
      .select(['person_id', 'synced_etag'])
      .where('person_id', 'in', personIds)
      .execute();
    return new Map(rows.map((row) => [row.person_id, row.synced_etag]));
  }

  async findThumbnail(personId: string, size: SiteThumbnailSize): Promise<StoredThumbnail | undefined> {
    const row = await this.db
      .selectFrom('site_thumbnails')
      .select(['size', 'source_etag', 'width', 'height', 'bytes'])
      .where('person_id', '=', personId)
      .where('size', '=', size)
      .executeTakeFirst();
    return row && { size: row.size, sourceEtag: row.source_etag, width: row.width, height: row.height, bytes: Buffer.from(row.bytes) };
  }

  /** All three in one statement: one snapshot, so never a mix of versions. */
  async findThumbnailSet(personId: string): Promise<StoredThumbnail[]> {
    const rows = await this.db
      .selectFrom('site_thumbnails')
      .select(['size', 'source_etag', 'width', 'height', 'bytes'])
      .where('person_id', '=', personId)
      .execute();
    return rows.map((row) => ({
      size: row.size,
      sourceEtag: row.source_etag,
      width: row.width,
      height: row.height,
      bytes: Buffer.from(row.bytes),
    }));
  }

  /**
   * Who a picture name means: the person it is stored for, else the earliest-added person without a
   * stored name whose UPN has it as SharePoint's stem. One round trip, each half by its index
   * (site_profiles_picture_name, people_picture_stem); the few people a stem finds are each checked
   * by primary key (a join would let PostgreSQL, misled by stale statistics, scan every profile).
   */
  async findPersonIdByPictureName(pictureName: string): Promise<string | undefined> {
    const stored = this.db
      .selectFrom('site_profiles')
      .select(['person_id as id', sql<number>`0`.as('rank'), sql<string>`''`.as('added')])
      .where('picture_name', '=', pictureName);
    const bySharePointStem = this.db
      .selectFrom('people')
      .select(['people.id as id', sql<number>`1`.as('rank'), 'people.created_at as added'])
      .where(fileStemOfUpn, '=', pictureName)
      .where(
        (eb) => eb.selectFrom('site_profiles').select('picture_name').whereRef('site_profiles.person_id', '=', 'people.id'),
        'is',
        null,
      );
    const row = await stored.unionAll(bySharePointStem).orderBy('rank').orderBy('added').orderBy('id').limit(1).executeTakeFirst();
    return row?.id;
  }

  /**
   * The numbers taken after `<stem>.`. Only asked when two UPNs share a stem, so a scan is fine; a
   * prefix test, not LIKE (`_` is its wildcard) nor a range (PostgreSQL's collations ignore punctuation).
   */
  async findNameSuffixes(stem: string): Promise<number[]> {
    const prefix = `${stem}.`;
    const rows = await this.db
      .selectFrom('site_profiles')
      .select('picture_name')
      .where(sql<string>`substr(picture_name, 1, ${prefix.length})`, '=', prefix)
      .execute();
    return rows.map((row) => Number(row.picture_name!.slice(stem.length + 1))).filter(Number.isInteger);
  }

  /**
   * Gives the person this picture name unless they have one: false when they already had one or the
   * name is someone else's (the unique index decides between processes).
   */
  async claimPictureName(personId: string, pictureName: string): Promise<boolean> {
    try {
      const result = await this.db
        .insertInto('site_profiles')
        .values({
          person_id: personId,
          synced_etag: null,
          picture_timestamp: '',
          last_checked_at: null,
          last_synced_at: null,
          last_error: null,
          last_error_at: null,
          last_trigger: null,
          picture_name: pictureName,
        })
        .onConflict((oc) =>
          oc.column('person_id').doUpdateSet({ picture_name: pictureName }).where('site_profiles.picture_name', 'is', null),
        )
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** Upserts the profile row; the sync engine runs this inside its transaction. */
  async saveProfile(profile: SiteProfile, trx: Transaction<Schema>): Promise<void> {
    const values = {
      person_id: profile.personId,
      synced_etag: profile.syncedEtag,
      picture_timestamp: profile.pictureTimestamp,
      last_checked_at: profile.lastCheckedAt,
      last_synced_at: profile.lastSyncedAt,
      last_error: profile.lastError,
      last_error_at: profile.lastErrorAt,
      last_trigger: profile.lastTrigger,
    };
    const { person_id: _key, ...changes } = values;
    await trx
      .insertInto('site_profiles')
      .values(values)
      .onConflict((oc) => oc.column('person_id').doUpdateSet(changes))
      .execute();
  }

  /**
   * Records a check (and its error, if any) without touching what is synced: a plain upsert of these
   * columns only, so it can never undo a swap that another process committed meanwhile.
   */
  async saveCheck(personId: string, check: { checkedAt: string; error: string | null; trigger: string }): Promise<void> {
    const changes = {
      last_checked_at: check.checkedAt,
      last_error: check.error,
      last_error_at: check.error ? check.checkedAt : null,
      last_trigger: check.trigger,
    };
    await this.db
      .insertInto('site_profiles')
      .values({ person_id: personId, synced_etag: null, picture_timestamp: '', last_synced_at: null, ...changes })
      .onConflict((oc) => oc.column('person_id').doUpdateSet(changes))
      .execute();
  }

  async replaceThumbnails(
    trx: Transaction<Schema>,
    personId: string,
    sourceEtag: string | null,
    thumbnails: readonly SiteThumbnail[],
  ): Promise<void> {
    await trx.deleteFrom('site_thumbnails').where('person_id', '=', personId).execute();
    if (sourceEtag === null || thumbnails.length === 0) return;
    await trx
      .insertInto('site_thumbnails')
      .values(
        thumbnails.map((t) => ({
          person_id: personId,
          size: t.size,
          source_etag: sourceEtag,
          width: t.width,
          height: t.height,
          bytes: t.bytes,
        })),
      )
      .execute();
  }
}
