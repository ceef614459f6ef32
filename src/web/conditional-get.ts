/** Browsers may keep a photo but must ask again each time, so a new version shows at once (a 304 when unchanged). */
export const PHOTO_CACHE_CONTROL = 'private, no-cache';

/** True when an If-None-Match header names this entity tag (or is `*`), so a 304 may answer. */
export function ifNoneMatchHits(header: string | undefined, quotedEtag: string): boolean {
  if (!header || header.length > 4096) return false;
  if (header.trim() === '*') return true;
  const wanted = quotedEtag.replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === wanted);
}
