import type { Person } from '../directory/index.ts';
import { AppError } from '../errors.ts';
import { CLI_ACTOR } from '../identity/index.ts';
import type { MailPhotoService } from '../mail/index.ts';

/** The current photo as the sync compares it: its ETag, and when it became current. */
export interface SourcePhotoMetadata {
  etag: string;
  changedAt: string;
}

/**
 * Where Sites takes photos from. The sync engine knows only this, so a remote Graph endpoint can
 * stand in for the local Mail service.
 */
export interface PhotoSource {
  /** The current photo's metadata, or null when the person has no photo. */
  getMetadata(person: Person): Promise<SourcePhotoMetadata | null>;
  /** The largest size's bytes, or null when the person has no photo. */
  getPhoto(person: Person): Promise<{ etag: string; bytes: Buffer } | null>;
}

/** A photo replaced again and again while being read is given up on (the change's own sync follows). */
const READ_ATTEMPTS = 3;

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
        return { etag: version.etag, changedAt: version.createdAt };
      } catch (error) {
        return noPhotoAsNull(error);
      }
    },
    async getPhoto(person) {
      for (let attempt = 1; ; attempt++) {
        try {
          const rendition = await mail.getRendition(CLI_ACTOR, person, undefined, { fresh: true });
          return { etag: rendition.versionEtag, bytes: rendition.bytes };
        } catch (error) {
          // Replaced between reading the version and its bytes: that is a new photo, not "no photo"
          // (taking it for none once put the placeholder in Sites while Mail had a photo).
          if (error instanceof AppError && error.code === 'PhotoChanged' && attempt < READ_ATTEMPTS) continue;
          return noPhotoAsNull(error);
        }
      }
    },
  };
}
