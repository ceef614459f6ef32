import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from './database.ts';

/** Migrations live in code (not files on disk) so tsx and a bundled build find them alike. */
export function migrationsFor(dialect: Dialect): MigrationProvider {
  const blob = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  const migrations: Record<string, Migration> = {
    '0001_people_identity_mail': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('people')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_principal_name', 'text', (c) => c.notNull())
          .addColumn('upn_key', 'text', (c) => c.notNull().unique())
          .addColumn('mail', 'text')
          .addColumn('mail_key', 'text')
          .addColumn('display_name', 'text', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('role', 'text', (c) => c.notNull().defaultTo('user'))
          .addColumn('password_hash', 'text')
          .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('directory_photo', blob)
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('people_mail_key').on('people').column('mail_key').execute();
        await db.schema.createIndex('people_display_name').on('people').column('display_name').execute();

        await db.schema
          .createTable('sessions')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('last_seen_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sessions_person').on('sessions').column('person_id').execute();

        await db.schema
          .createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_used_at', 'text')
          .addColumn('revoked_at', 'text')
          .execute();

        await db.schema
          .createTable('photo_versions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
          .addColumn('etag', 'text', (c) => c.notNull())
          .addColumn('width', 'integer', (c) => c.notNull())
          .addColumn('height', 'integer', (c) => c.notNull())
          .addColumn('sizes', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('set_by_id', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('ended_at', 'text')
          .execute();
        // At most one current photo per person, enforced by the database itself.
        await db.schema
          .createIndex('photo_versions_one_current')
          .on('photo_versions')
          .column('person_id')
          .unique()
          .where(sql.ref('state'), '=', 'current')
          .execute();

        await db.schema
          .createTable('photo_renditions')
          .addColumn('version_id', 'text', (c) => c.notNull().references('photo_versions.id').onDelete('cascade'))
          .addColumn('size', 'integer', (c) => c.notNull())
          .addColumn('width', 'integer', (c) => c.notNull())
          .addColumn('height', 'integer', (c) => c.notNull())
          .addColumn('content_type', 'text', (c) => c.notNull())
          .addColumn('bytes', blob, (c) => c.notNull())
          .addPrimaryKeyConstraint('photo_renditions_pk', ['version_id', 'size'])
          .execute();
      },
    },
    '0002_sites_and_sync': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('site_profiles')
          .addColumn('person_id', 'text', (c) => c.primaryKey().references('people.id').onDelete('cascade'))
          .addColumn('synced_etag', 'text')
          .addColumn('picture_timestamp', 'text', (c) => c.notNull())
          .addColumn('last_checked_at', 'text')
          .addColumn('last_synced_at', 'text')
          .addColumn('last_error', 'text')
          .addColumn('last_error_at', 'text')
          .addColumn('last_trigger', 'text')
          .execute();
        await db.schema
          .createTable('site_thumbnails')
          .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
          .addColumn('size', 'text', (c) => c.notNull())
          .addColumn('source_etag', 'text', (c) => c.notNull())
          .addColumn('width', 'integer', (c) => c.notNull())
          .addColumn('height', 'integer', (c) => c.notNull())
          .addColumn('bytes', blob, (c) => c.notNull())
          .addPrimaryKeyConstraint('site_thumbnails_pk', ['person_id', 'size'])
          .execute();
        await db.schema
          .createTable('sync_runs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
          .addColumn('trigger', 'text', (c) => c.notNull())
          .addColumn('result', 'text', (c) => c.notNull())
          .addColumn('error', 'text')
          .addColumn('mail_etag', 'text')
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('duration_ms', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sync_runs_person_started').on('sync_runs').columns(['person_id', 'started_at']).execute();
      },
    },
    '0003_settings_audit_sync_status': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('updated_by', 'text')
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('actor_kind', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text')
          .addColumn('actor_name', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target_id', 'text')
          .addColumn('target_name', 'text')
          .addColumn('detail', 'text')
          .addColumn('ip', 'text')
          .execute();
        await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
        await db.schema.createIndex('audit_log_target').on('audit_log').columns(['target_id', 'seq']).execute();
        // The status page pages through people by UPN and finds the stale ones oldest-checked first.
        await db.schema.createIndex('site_profiles_last_checked').on('site_profiles').column('last_checked_at').execute();
      },
    },
  };
  return { getMigrations: async () => migrations };
}
