import type { Person } from '../directory/index.ts';
import type { SiteThumbnailSize } from '../imaging/index.ts';

/** Sites' record of a person's photo: which Mail version it shows and when it last looked. */
export interface SiteProfile {
  personId: string;
  /** The Mail ETag the thumbnails came from; null: the placeholder is shown. */
  syncedEtag: string | null;
  pictureTimestamp: string;
  lastCheckedAt: string | null;
  lastSyncedAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  lastTrigger: string | null;
  /** The stem of the person's photo file names; see `pictureNameFor` in SitesService. Null until first needed. */
  pictureName: string | null;
}

export interface ThumbnailImage {
  size: SiteThumbnailSize;
  /** Quoted HTTP entity tag. */
  etag: string;
  bytes: Buffer;
  width: number;
  height: number;
  placeholder: boolean;
  /** The Mail ETag behind the bytes; null for a placeholder. */
  sourceEtag: string | null;
}

export interface ProfileProperty {
  key: string;
  value: string;
}

const CLAIMS_PREFIX = /^i:0#\.f\|membership\|/i;

/** userphoto.aspx's `accountname`: a UPN, a mail address or a claims name (`i:0#.f|membership|ada@…`). */
export function accountNameOf(raw: string): string {
  return raw.trim().replace(CLAIMS_PREFIX, '');
}

/** `s`, `M`, ` l ` → the size; anything else → undefined. */
export function thumbnailSizeOf(raw: string): SiteThumbnailSize | undefined {
  const size = raw.trim().toUpperCase();
  return size === 'S' || size === 'M' || size === 'L' ? size : undefined;
}

/** A photo file's name: the person's picture name (see SiteProfile), then `_{S,M,L}Thumb.jpg`. */
export function thumbnailFileName(pictureName: string, size: SiteThumbnailSize): string {
  return `${pictureName}_${size}Thumb.jpg`;
}

/**
 * SharePoint's name for a UPN's photo files: lower case, `@` and `.` as `_`. Not unique
 * (`new.hire@` and `new_hire@` share it), so it is only where a person's picture name starts.
 */
export function thumbnailFileStem(userPrincipalName: string): string {
  return userPrincipalName.toLowerCase().replace(/[@.]/g, '_');
}

export const PROFILE_PICTURES_PATH = '/User Photos/Profile Pictures';

export function thumbnailUrl(publicUrl: URL, pictureName: string, size: SiteThumbnailSize): string {
  return new URL(`${PROFILE_PICTURES_PATH}/${thumbnailFileName(pictureName, size)}`, publicUrl).href;
}

export function claimsAccountName(person: Person): string {
  return `i:0#.f|membership|${person.userPrincipalName.toLowerCase()}`;
}

/** The user profile properties SharePoint clients read for the picture, plus photosync's own sync facts. */
export function profileProperties(person: Person, profile: SiteProfile | undefined, publicUrl: URL): ProfileProperty[] {
  const pictureName = profile?.syncedEtag ? profile.pictureName : null;
  const hasPhoto = Boolean(pictureName);
  const names = person.displayName.split(' ');
  return [
    { key: 'AccountName', value: claimsAccountName(person) },
    { key: 'FirstName', value: names[0] ?? '' },
    { key: 'LastName', value: names.slice(1).join(' ') },
    { key: 'PreferredName', value: person.displayName },
    { key: 'WorkEmail', value: person.mail ?? '' },
    { key: 'UserName', value: person.userPrincipalName },
    { key: 'SPS-UserPrincipalName', value: person.userPrincipalName },
    { key: 'PictureURL', value: pictureName ? thumbnailUrl(publicUrl, pictureName, 'M') : '' },
    { key: 'PictureImportEnabled', value: 'True' },
    { key: 'SPS-PicturePlaceholderState', value: hasPhoto ? '0' : '1' },
    { key: 'SPS-PictureTimestamp', value: profile?.pictureTimestamp ?? '' },
    { key: 'SPS-PictureExchangeSyncState', value: profile?.lastSyncedAt ? '1' : '0' },
    { key: 'PhotoSync-SyncedMailETag', value: profile?.syncedEtag ?? '' },
    { key: 'PhotoSync-LastChecked', value: profile?.lastCheckedAt ?? '' },
    { key: 'PhotoSync-LastSynced', value: profile?.lastSyncedAt ?? '' },
  ];
}
