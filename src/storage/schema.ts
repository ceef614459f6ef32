import type { Generated } from 'kysely';
/** Table shapes as the database holds them. Times are ISO-8601 UTC strings; flags are 0/1. */

export interface PeopleTable {
  id: string;
  user_principal_name: string;
  /** Lower-cased UPN: the unique key, so lookups are case-insensitive on every database. */
  upn_key: string;
  mail: string | null;
  mail_key: string | null;
  display_name: string;
  enabled: number;
  role: 'admin' | 'user';
  password_hash: string | null;
  must_change_password: number;
  /** Like AD thumbnailPhoto: kept for the directory, never used by Sites. */
  directory_photo: Buffer | null;
  created_at: string;
  updated_at: string;
}

export interface SessionsTable {
  /** sha256 of the cookie value: a database leak does not leak live sessions. */
  id_hash: string;
  person_id: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
}

export interface ApiTokensTable {
  id: string;
  person_id: string;
  name: string;
  token_hash: string;
  /** `photos` (the column's default) or `admin`: see TokenScope. */
  scope: Generated<string>;
  created_at: string;
  /** Null: never expires (only when asked for at creation). */
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export type PhotoVersionState = 'current' | 'replaced' | 'removed';

export interface PhotoVersionsTable {
  id: string;
  person_id: string;
  etag: string;
  /** Side of the largest stored rendition. */
  width: number;
  height: number;
  /** The stored Graph sizes, largest first, comma-separated: read with the version in one query. */
  sizes: string;
  source: string;
  set_by_id: string | null;
  created_at: string;
  state: PhotoVersionState;
  ended_at: string | null;
}

export interface PhotoRenditionsTable {
  version_id: string;
  size: number;
  width: number;
  height: number;
  content_type: string;
  bytes: Buffer;
}

export type ThumbnailSize = 'S' | 'M' | 'L';

/** Sites' own copy of a person's photo and its SharePoint-style properties. */
export interface SiteProfilesTable {
  person_id: string;
  /** The Mail ETag of the photo the thumbnails were made from; null means the placeholder. */
  synced_etag: string | null;
  /** SPS-PictureTimestamp: bumped with every new version so clients bust their caches. */
  picture_timestamp: string;
  last_checked_at: string | null;
  last_synced_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
  last_trigger: string | null;
  /**
   * The stem of the person's photo file names (`<stem>_MThumb.jpg`): SharePoint's name for the UPN,
   * or `<that>.2`, `.3`, … when someone else has it. Stored once, never changed; null until needed
   * (so rows may be written without it).
   */
  picture_name?: string | null;
}

export interface SiteThumbnailsTable {
  person_id: string;
  size: ThumbnailSize;
  /** The Mail ETag these bytes came from: all three of a person always share it. */
  source_etag: string;
  width: number;
  height: number;
  bytes: Buffer;
}

export interface SyncRunsTable {
  id: string;
  person_id: string;
  trigger: string;
  result: string;
  error: string | null;
  mail_etag: string | null;
  started_at: string;
  duration_ms: number;
}

/** Admin settings that live in the database so every process sees the same value. */
export interface SettingsTable {
  key: string;
  value: string;
  updated_at: string;
  updated_by: string | null;
}

/** What a directory (LDAP, OIDC) last said about a person's photo; etag null: it has none. */
export interface DirectoryPhotoSourcesTable {
  person_id: string;
  source: string;
  received_etag: string | null;
  /** The last photo from this source that Mail took. */
  imported_etag: string | null;
  received_at: string;
}

/** An OIDC sign-in waiting for the provider's answer (single use, short-lived). */
export interface OidcSignInsTable {
  state_hash: string;
  code_verifier: string;
  nonce: string;
  return_to: string | null;
  created_at: string;
  expires_at: string;
}

/** Append-only: rows are inserted, never updated or deleted. */
export interface AuditLogTable {
  seq: Generated<number>;
  at: string;
  actor_kind: string;
  actor_id: string | null;
  actor_name: string;
  action: string;
  target_id: string | null;
  target_name: string | null;
  detail: string | null;
  ip: string | null;
}

export type BulkRunKind = 'sync' | 'import' | 'directory';
export type BulkRunState = 'running' | 'finished' | 'cancelled' | 'interrupted';

export interface BulkRunsTable {
  id: string;
  kind: BulkRunKind;
  label: string;
  started_by: string;
  /** What the run covers, in words (e.g. "out-of-date people"). */
  filter: string | null;
  total: number;
  done: number;
  failed: number;
  state: BulkRunState;
  started_at: string;
  /** Bumped with every item (and by a running import's heartbeat). */
  updated_at: string;
  finished_at: string | null;
  /** JSON the run's kind adds to its report (an import's counts and CSV problems). */
  summary: string | null;
}

export interface BulkRunItemsTable {
  run_id: string;
  item: string;
  seq: number;
  outcome: string;
  failed: number;
  reason: string | null;
  detail: string | null;
}

export type LdapEntryState = 'enabled' | 'disabled' | 'vanished';

/** What the LDAP sync last saw of one directory entry (see migration 0009). */
export interface LdapEntriesTable {
  /** entryUUID, or objectGUID as hex: never changes for the entry. */
  stable_id: string;
  person_id: string;
  dn: string;
  /** modifyTimestamp / whenChanged as the directory gave it. */
  changed_at: string | null;
  /** sha256 of the mapped values (UPN, name, mail, disabled). */
  values_hash: string;
  /** sha256 of the photo's bytes; null: the entry had none. */
  photo_hash: string | null;
  state: LdapEntryState;
  synced_at: string;
}

/** SQLite only: the embedded queue of sync requests. */
export interface SyncJobsTable {
  id: string;
  singleton_key: string | null;
  /** JSON array of person ids. */
  person_ids: string;
  trigger: string;
  run_id: string | null;
  /** Higher first: one person's request goes before the chunks of a bulk run. */
  priority: number;
  state: 'waiting' | 'running';
  available_at: string;
  claimed_until: string | null;
  attempts: number;
  created_at: string;
}

export interface Schema {
  bulk_runs: BulkRunsTable;
  bulk_run_items: BulkRunItemsTable;
  sync_jobs: SyncJobsTable;
  people: PeopleTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  photo_versions: PhotoVersionsTable;
  photo_renditions: PhotoRenditionsTable;
  site_profiles: SiteProfilesTable;
  site_thumbnails: SiteThumbnailsTable;
  sync_runs: SyncRunsTable;
  settings: SettingsTable;
  audit_log: AuditLogTable;
  ldap_entries: LdapEntriesTable;
  directory_photo_sources: DirectoryPhotoSourcesTable;
  oidc_sign_ins: OidcSignInsTable;
}
