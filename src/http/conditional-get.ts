/**
 * How long a browser may keep a photo without asking, by what the request says of it:
 * - `own`: the viewer's own Sites photo asks every time (a 304 when unchanged), since that request
 *   is where the user-initiated sync hooks in;
 * - `versioned`: the URL names the version it shows (`t=` / `v=` equal to the current one, as the
 *   pages write it), so a new photo comes with a new URL and this one never changes;
 * - `shared`: any other URL is kept a minute, then revalidated, so a page with dozens of avatars
 *   costs no request at all on a second look.
 */
export const PHOTO_CACHE_CONTROL = {
  own: 'private, no-cache',
  versioned: 'private, max-age=31536000, immutable',
  shared: 'private, max-age=60, must-revalidate',
} as const;
export type PhotoFreshness = keyof typeof PHOTO_CACHE_CONTROL;

/** `versioned` when the request's version parameter names the version being sent. */
export function photoFreshness(requestedVersion: unknown, currentVersion: string | null): Exclude<PhotoFreshness, 'own'> {
  return currentVersion !== null && requestedVersion === currentVersion ? 'versioned' : 'shared';
}

/** True when an If-None-Match header names this entity tag (or is `*`), so a 304 may answer. */
export function ifNoneMatchHits(header: string | undefined, quotedEtag: string): boolean {
  if (!header || header.length > 4096) return false;
  // What a browser sends back (the tag it was given, alone): no parsing needed.
  if (header === quotedEtag) return true;
  if (header.trim() === '*') return true;
  const wanted = quotedEtag.replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === wanted);
}
