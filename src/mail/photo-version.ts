import type { GraphPhotoSize } from '../imaging/index.ts';

/** Where a photo change came from, for the version history and (later) the audit log. */
export type PhotoOrigin = 'page' | 'api' | 'cli' | 'seed' | 'import' | 'sites' | 'ldap' | 'oidc';

export interface PhotoVersion {
  id: string;
  personId: string;
  /** Content hash of the uploaded bytes; the same upload twice is the same version. */
  etag: string;
  width: number;
  height: number;
  source: PhotoOrigin;
  setById: string | null;
  createdAt: string;
  /** The stored Graph sizes, largest first. */
  sizes: GraphPhotoSize[];
}

export interface StoredRendition {
  versionId: string;
  /** The version's ETag (the content hash of the upload). */
  versionEtag: string;
  /** This size's own ETag. */
  etag: string;
  size: GraphPhotoSize;
  width: number;
  height: number;
  contentType: string;
  bytes: Buffer;
}

export type PhotoChange =
  | { kind: 'set'; personId: string; version: PhotoVersion; previousEtag: string | null }
  | { kind: 'removed'; personId: string; previousEtag: string };

/** The quoted form Graph puts in @odata.mediaEtag and HTTP puts in ETag. */
export function quoteEtag(etag: string): string {
  return `"${etag}"`;
}
