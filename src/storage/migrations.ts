import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/** The tables as each migration finds them: untyped, since the schema changes under the migrations. */
type MigratingSchema = Record<string, Record<string, unknown>>;

/** Migrations live in code (not files on disk) so tsx and a bundled build find them alike. */
export function migrationsFor(dialect: 'sqlite' | 'postgres'): MigrationProvider {
  const blob = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  const migrations: Record<string, Migration> = {
    '0001_people_identity_mail': {
      async up(db: Kysely<MigratingSchema>) {
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
      async up(db: Kysely<MigratingSchema>) {
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
      async up(db: Kysely<MigratingSchema>) {
        await db.schema
          .createTable('settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('updated_by', 'text')
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
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
    '0004_durable_sync': {
      async up(db: Kysely<MigratingSchema>) {
        // Bulk runs (a force sync, an import) and what each item came to: any process shows, follows
        // and cancels them, and they outlive a restart.
        await db.schema
          .createTable('bulk_runs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('label', 'text', (c) => c.notNull())
          .addColumn('started_by', 'text', (c) => c.notNull())
          .addColumn('filter', 'text')
          .addColumn('total', 'integer', (c) => c.notNull())
          .addColumn('done', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('finished_at', 'text')
          .addColumn('summary', 'text')
          .execute();
        await db.schema.createIndex('bulk_runs_started').on('bulk_runs').columns(['kind', 'started_at']).execute();
        // One bulk sync at a time, across processes: the database refuses a second running one.
        await sql`create unique index bulk_runs_one_running_sync on bulk_runs (kind) where state = 'running' and kind = 'sync'`.execute(db);
        await db.schema
          .createTable('bulk_run_items')
          .addColumn('run_id', 'text', (c) => c.notNull().references('bulk_runs.id').onDelete('cascade'))
          .addColumn('item', 'text', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('failed', 'integer', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('detail', 'text')
          .addPrimaryKeyConstraint('bulk_run_items_pk', ['run_id', 'item'])
          .execute();
        await db.schema.createIndex('bulk_run_items_failed').on('bulk_run_items').columns(['run_id', 'failed', 'seq']).execute();
        if (dialect === 'sqlite') {
          // The embedded queue of sync requests (PostgreSQL keeps them as pg-boss jobs). A request is
          // written in the same transaction as the change that caused it.
          await db.schema
            .createTable('sync_jobs')
            .addColumn('id', 'text', (c) => c.primaryKey())
            .addColumn('singleton_key', 'text')
            .addColumn('person_ids', 'text', (c) => c.notNull())
            .addColumn('trigger', 'text', (c) => c.notNull())
            .addColumn('run_id', 'text')
            .addColumn('priority', 'integer', (c) => c.notNull())
            .addColumn('state', 'text', (c) => c.notNull())
            .addColumn('available_at', 'text', (c) => c.notNull())
            .addColumn('claimed_until', 'text')
            .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
            .addColumn('created_at', 'text', (c) => c.notNull())
            .execute();
          // A person waits in the queue at most once; a running request does not count.
          await db.schema
            .createIndex('sync_jobs_one_waiting')
            .on('sync_jobs')
            .column('singleton_key')
            .unique()
            .where(sql.ref('state'), '=', 'waiting')
            .execute();
          await db.schema.createIndex('sync_jobs_due').on('sync_jobs').columns(['state', 'available_at']).execute();
          await db.schema.createIndex('sync_jobs_run').on('sync_jobs').column('run_id').execute();
        }
        // The scheduled sweep and the safety net walk Sites profiles oldest-checked first, by index.
        await db.schema.createIndex('site_profiles_checked_person').on('site_profiles').columns(['last_checked_at', 'person_id']).execute();
      },
    },
    '0005_token_scope_session_lifetime': {
      async up(db: Kysely<MigratingSchema>) {
        // API tokens get a scope and an expiry. Tokens made before had neither: they keep working as
        // `photos` tokens for 90 days from the upgrade (an admin token must be made again with
        // `--scope admin` to open admin pages), and `tokens list` shows when each ends.
        await db.schema
          .alterTable('api_tokens')
          .addColumn('scope', 'text', (c) => c.notNull().defaultTo('photos'))
          .execute();
        await db.schema.alterTable('api_tokens').addColumn('expires_at', 'text').execute();
        const upgradeExpiry = new Date(Date.now() + 90 * 24 * 3_600_000).toISOString();
        await db.updateTable('api_tokens').set({ expires_at: upgradeExpiry }).where('revoked_at', 'is', null).execute();
        // Sessions now also end at an absolute lifetime, kept in expires_at; the hourly cleanup finds them by it.
        await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();
      },
    },
    '0006_site_picture_names': {
      async up(db: Kysely<MigratingSchema>) {
        // Each person's Sites photo files get a stored name (stem) of their own: SharePoint's name
        // for a UPN (`@` and `.` as `_`) is not unique, so two people could share one file name.
        await db.schema.alterTable('site_profiles').addColumn('picture_name', 'text').execute();
        // Names already handed out as PictureURL keep working: among people with a synced photo whose
        // UPNs map to one name, the earliest added keeps it and the others get `<name>.2`, `.3`, …
        const stem = sql`replace(replace(p.upn_key, '@', '_'), '.', '_')`;
        await sql`update site_profiles set picture_name = ranked.name
          from (
            select person_id, case when n = 1 then stem else stem || '.' || cast(n as text) end as name
            from (
              select sp.person_id, ${stem} as stem, row_number() over (partition by ${stem} order by p.created_at, p.id) as n
              from site_profiles sp join people p on p.id = sp.person_id
              where sp.synced_etag is not null
            ) numbered
          ) ranked
          where site_profiles.person_id = ranked.person_id`.execute(db);
        await db.schema.createIndex('site_profiles_picture_name').on('site_profiles').column('picture_name').unique().execute();
        // Finds who a SharePoint-style name means before any name was stored for them (same expression as the query).
        await sql`create index people_picture_stem on people (replace(replace(upn_key, '@', '_'), '.', '_'))`.execute(db);
      },
    },
    '0008_directory_photos_oidc': {
      async up(db: Kysely<MigratingSchema>) {
        // What each directory (LDAP, OIDC) last said about a person's photo: its content hash (null:
        // the directory has none), and the last one it put into Mail. An unchanged photo is
        // recognised without storing its bytes twice, a photo the person removed from Mail is not
        // filled in again until the directory's changes, and a person the directory manages is
        // known even when it sends no photo.
        await db.schema
          .createTable('directory_photo_sources')
          .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('received_etag', 'text')
          .addColumn('imported_etag', 'text')
          .addColumn('received_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('directory_photo_sources_pk', ['person_id', 'source'])
          .execute();
        // An OIDC sign-in between leaving for the provider and coming back: the PKCE verifier and the
        // nonce stay here (every process can finish it); the browser holds only the state in a cookie.
        await db.schema
          .createTable('oidc_sign_ins')
          .addColumn('state_hash', 'text', (c) => c.primaryKey())
          .addColumn('code_verifier', 'text', (c) => c.notNull())
          .addColumn('nonce', 'text', (c) => c.notNull())
          .addColumn('return_to', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('oidc_sign_ins_expires').on('oidc_sign_ins').column('expires_at').execute();
      },
    },
    '0009_ldap_directory_sync': {
      async up(db: Kysely<MigratingSchema>) {
        // What the LDAP sync last saw of each directory entry, keyed by its stable id (entryUUID,
        // objectGUID): an entry whose values and photo hash are as stored is left alone, and a photo
        // is handed on only when its hash changed. `state` is the entry as the directory last had it
        // (enabled, disabled, vanished), so the sync enables only people it disabled itself.
        await db.schema
          .createTable('ldap_entries')
          .addColumn('stable_id', 'text', (c) => c.primaryKey())
          .addColumn('person_id', 'text', (c) => c.notNull().unique().references('people.id').onDelete('cascade'))
          .addColumn('dn', 'text', (c) => c.notNull())
          .addColumn('changed_at', 'text')
          .addColumn('values_hash', 'text', (c) => c.notNull())
          .addColumn('photo_hash', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('synced_at', 'text', (c) => c.notNull())
          .execute();
        // One directory sync at a time, across processes: the database refuses a second running one.
        await sql`create unique index bulk_runs_one_running_directory on bulk_runs (kind) where state = 'running' and kind = 'directory'`.execute(
          db,
        );
      },
    },
  };
  return { getMigrations: async () => migrations };
}
