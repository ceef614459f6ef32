import type { Kysely, Transaction } from 'kysely';
import type { GraphPhotoSize, Rendition } from '../imaging/index.ts';
import type { Schema } from '../storage/index.ts';
import type { PhotoOrigin, PhotoVersion, StoredRendition } from './photo-version.ts';

type Db = Kysely<Schema> | Transaction<Schema>;

/** The Mail store's queries. Each write runs inside the caller's transaction. */
export class PhotoStore {
  constructor(private readonly db: Kysely<Schema>) {}

  transaction<T>(work: (trx: Transaction<Schema>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }

  async findCurrentVersion(personId: string, db: Db = this.db): Promise<PhotoVersion | undefined> {
    const row = await db
      .selectFrom('photo_versions')
      .selectAll()
      .where('person_id', '=', personId)
      .where('state', '=', 'current')
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      personId: row.person_id,
      etag: row.etag,
      width: row.width,
      height: row.height,
      source: row.source as PhotoOrigin,
      setById: row.set_by_id,
      createdAt: row.created_at,
      sizes: row.sizes.split(',').map((size) => Number(size) as GraphPhotoSize),
    };
  }

  async findRendition(versionId: string, size: GraphPhotoSize): Promise<Omit<StoredRendition, 'etag' | 'versionEtag'> | undefined> {
    const row = await this.db
      .selectFrom('photo_renditions')
      .selectAll()
      .where('version_id', '=', versionId)
      .where('size', '=', size)
      .executeTakeFirst();
    return (
      row && {
        versionId: row.version_id,
        size: row.size as GraphPhotoSize,
        width: row.width,
        height: row.height,
        contentType: row.content_type,
        bytes: Buffer.from(row.bytes),
      }
    );
  }

  /** Only the current version keeps its bytes; earlier versions stay as history rows. */
  async endCurrentVersion(trx: Transaction<Schema>, versionId: string, state: 'replaced' | 'removed', now: Date): Promise<void> {
    await trx.updateTable('photo_versions').set({ state, ended_at: now.toISOString() }).where('id', '=', versionId).execute();
    await trx.deleteFrom('photo_renditions').where('version_id', '=', versionId).execute();
  }

  async insertVersion(trx: Transaction<Schema>, version: PhotoVersion, renditions: readonly Rendition[]): Promise<void> {
    await trx
      .insertInto('photo_versions')
      .values({
        id: version.id,
        person_id: version.personId,
        etag: version.etag,
        width: version.width,
        height: version.height,
        sizes: version.sizes.join(','),
        source: version.source,
        set_by_id: version.setById,
        created_at: version.createdAt,
        state: 'current',
        ended_at: null,
      })
      .execute();
    await trx
      .insertInto('photo_renditions')
      .values(
        renditions.map((r) => ({
          version_id: version.id,
          size: r.size,
          width: r.width,
          height: r.height,
          content_type: r.contentType,
          bytes: r.bytes,
        })),
      )
      .execute();
  }
}
