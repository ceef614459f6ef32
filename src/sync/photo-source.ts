import type { Person } from '../directory/index.ts';
import { AppError } from '../errors.ts';
import { CLI_ACTOR } from '../identity/index.ts';
import type { MailPhotoService } from '../mail/index.ts';

/**
 * Where Sites takes photos from. The sync engine knows only this, so a remote Graph endpoint can
 * stand in for the local Mail service.
 */
export interface PhotoSource {
  /** The current photo's ETag, or null when the person has no photo. */
  getMetadata(person: Person): Promise<{ etag: string } | null>;
  /** The largest size's bytes, or null when the person has no photo. */
  getPhoto(person: Person): Promise<{ etag: string; bytes: Buffer } | null>;
}

/** The local Mail store as a PhotoSource; reads skip Mail's cache so a sync sees the latest commit. */
export function mailPhotoSource(mail: MailPhotoService): PhotoSource {
  const noPhotoAsNull = <T>(error: unknown): T | null => {
    if (error instanceof AppError && error.code === 'ImageNotFound') return null;
    throw error;
  };
  return {
    async getMetadata(person) {
      try {
        const version = await mail.getPhoto(CLI_ACTOR, person, { fresh: true });
        return { etag: version.etag };
      } catch (error) {
        return noPhotoAsNull(error);
      }
    },
    async getPhoto(person) {
      try {
        const rendition = await mail.getRendition(CLI_ACTOR, person, undefined, { fresh: true });
        return { etag: rendition.versionEtag, bytes: rendition.bytes };
      } catch (error) {
        return noPhotoAsNull(error);
      }
    },
  };
}
