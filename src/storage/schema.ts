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
  created_at: string;
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

export interface Schema {
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
}
