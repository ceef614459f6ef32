import { createHash } from 'node:crypto';
import type { Transaction } from 'kysely';
import { SYNC_AUDIT_ACTOR, type AuditLog } from '../audit/index.ts';
import type { DirectoryService, Person } from '../directory/index.ts';
import { ImageTooLarge, InvalidInput, NotPermitted } from '../errors.ts';
import type { Actor, PersonActor } from '../identity/index.ts';
import { renderPlaceholder, type SiteThumbnail, type SiteThumbnailSize } from '../imaging/index.ts';
import { lockPersonRow, type Schema } from '../storage/index.ts';
import { TtlCache } from '../ttl-cache.ts';
import {
  profileProperties,
  thumbnailFileStem,
  type ProfileProperty,
  type SiteProfile,
  type SyncTrigger,
  type ThumbnailImage,
} from './site-profile.ts';
import type { SiteStore } from './site-store.ts';

export interface SitesOptions {
  publicUrl: URL;
  now?: () => Date;
  /** How long another process's swap may take to show here; swaps in this process show at once. */
  cacheTtlMs?: number;
  /** Every swap is recorded in the swap's own transaction. */
  audit?: AuditLog;
  /** Told after each committed swap (to tell the other server processes); logs its own failures. */
  onSwapped?: (personId: string) => Promise<void>;
  /** Where SetMyProfilePicture's pictures go (Mail, wired in services.ts). */
  profilePictures: ProfilePictureUploads;
}

/**
 * Where a picture set through SharePoint's SetMyProfilePicture goes. Sites keeps only copies: the
 * person's photo lives where Sites copies photos from (Mail), so the picture goes there and comes
 * back through the sync. Wired in services.ts, as the sync reaches Mail through its PhotoSource, so
 * Sites never imports Mail.
 */
export interface ProfilePictureUploads {
  /** Refuses (before the picture is read) when the person may not change their photo now. */
  assertAccepted(actor: PersonActor): void;
  /** Stores the picture as the person's photo; resolves once Sites shows it. */
  store(actor: PersonActor, picture: Buffer, limits: { maxBytes: number; acceptBmp: boolean }): Promise<void>;
}

/** What SetMyProfilePicture's request says besides the picture. */
export interface ProfilePictureRequest {
  /** The X-RequestDigest header, which SharePoint's clients send and a cross-site form cannot. */
  requestDigest: string | undefined;
}

/** SharePoint accepts up to 5,000,000 bytes for SetMyProfilePicture. */
export const PROFILE_PICTURE_MAX_BYTES = 5_000_000;

/** More writes that must commit with a swap or not at all (the sync run that made it). */
export type InTransaction = (trx: Transaction<Schema>) => Promise<void>;

/** Sites: each person's S/M/L copies and profile properties. It never reads Mail or the directory photo. */
export class SitesService {
  private readonly hot: TtlCache<string, ThumbnailImage>;
  private readonly placeholders = new TtlCache<string, ThumbnailImage>(3_600_000, 5000);
  /** Picture file names resolved in the last second (names never change once given; people may go). */
  private readonly pictureFiles: TtlCache<string, { person: Person; size: SiteThumbnailSize }>;
  private readonly now: () => Date;

  constructor(
    private readonly store: SiteStore,
    private readonly directory: DirectoryService,
    private readonly options: SitesOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.hot = new TtlCache(options.cacheTtlMs ?? 1000, 20_000);
    this.pictureFiles = new TtlCache(options.cacheTtlMs ?? 1000, 20_000);
  }

  /** The PeopleManager calls act as a person ("my" properties, "my" picture): an operator has no profile. */
  personCalling(actor: Actor): PersonActor {
    if (actor.kind !== 'person') throw new InvalidInput('A person must be signed in.');
    return actor;
  }

  /**
   * Who may set their picture through SetMyProfilePicture, settled before the picture is read. A
   * browser's cookie goes along with any cross-site POST; a custom header does not (it needs a CORS
   * preflight this server never grants), so a browser session must send X-RequestDigest, as
   * SharePoint's clients do. A token is no cookie: it needs none.
   */
  assertMaySetProfilePicture(actor: Actor, request: ProfilePictureRequest): PersonActor {
    const person = this.personCalling(actor);
    if (person.via === 'session' && !request.requestDigest) {
      throw new NotPermitted('A signed-in browser must send the X-RequestDigest header with this request, as SharePoint requires.');
    }
    this.options.profilePictures.assertAccepted(person);
    return person;
  }

  /** SetMyProfilePicture: the picture becomes the person's photo (in Mail), and Sites shows it once this resolves. */
  async setMyProfilePicture(actor: Actor, request: ProfilePictureRequest, picture: Buffer): Promise<void> {
    const person = this.assertMaySetProfilePicture(actor, request);
    if (picture.length > PROFILE_PICTURE_MAX_BYTES)
      throw new ImageTooLarge(`The photo is larger than ${PROFILE_PICTURE_MAX_BYTES.toLocaleString('en')} bytes; send a smaller one.`);
    // A BMP becomes a PNG of up to 4× its size; the picture itself is at most 5,000,000 bytes.
    await this.options.profilePictures.store(person, picture, { maxBytes: 4 * PROFILE_PICTURE_MAX_BYTES, acceptBmp: true });
  }

  getProfile(personId: string): Promise<SiteProfile | undefined> {
    return this.store.findProfile(personId);
  }

  async getProperties(person: Person): Promise<ProfileProperty[]> {
    // A disabled person is shown as one never synced: the placeholder, no picture URL.
    if (!person.enabled) return profileProperties(person, undefined, this.options.publicUrl);
    const profile = await this.store.findProfile(person.id);
    // A photo synced by a version that stored no name gets one now (swaps name the person first).
    if (profile?.syncedEtag && !profile.pictureName) profile.pictureName = await this.pictureNameFor(person);
    return profileProperties(person, profile, this.options.publicUrl);
  }

  /**
   * Which Mail version each person's Sites photo shows (null or absent: their initials), in one query.
   * A disabled person shows their initials, so pages never name (and browsers never keep) their photo's version.
   */
  syncedEtagsOf(people: readonly Person[]): Promise<Map<string, string | null>> {
    return this.store.findSyncedEtags(people.filter((person) => person.enabled).map((person) => person.id));
  }

  /**
   * The synced thumbnail, or the person's placeholder: never a missing image. Hot ones come from
   * memory. A disabled person gets their placeholder (their copy is kept for when they are enabled).
   */
  async getThumbnail(person: Person, size: SiteThumbnailSize): Promise<ThumbnailImage> {
    if (!person.enabled) return this.placeholderFor(person, size);
    return this.hot.getOrLoad(`${person.id}:${size}`, async () => {
      const stored = await this.store.findThumbnail(person.id, size);
      return stored ? { ...stored, etag: `"${stored.sourceEtag}-${size}"`, placeholder: false } : this.placeholderFor(person, size);
    });
  }

  /** The thumbnail getThumbnail served in the last second, from memory only (the hot photo reads' fast path). */
  peekThumbnail(personId: string, size: SiteThumbnailSize): ThumbnailImage | undefined {
    return this.hot.get(`${personId}:${size}`);
  }

  /** All three sizes read in one snapshot (for checks that S, M and L share a version). */
  async getThumbnailSet(person: Person): Promise<{ size: SiteThumbnailSize; sourceEtag: string }[]> {
    return (await this.store.findThumbnailSet(person.id)).map(({ size, sourceEtag }) => ({ size, sourceEtag }));
  }

  /**
   * `ada_contoso_com_LThumb.jpg` → Ada and L. A stored picture name wins; a SharePoint name nobody has
   * yet means the earliest-added person it fits, the one `pictureNameFor` will give it to. Both by index.
   */
  async findByThumbnailFile(fileName: string): Promise<{ person: Person; size: SiteThumbnailSize } | undefined> {
    const match = /^(.{1,300})_([SML])Thumb\.jpg$/i.exec(fileName);
    if (!match) return undefined;
    const cached = this.pictureFiles.get(fileName);
    if (cached) return cached;
    const name = match[1]!.toLowerCase();
    const personId = await this.store.findPersonIdByPictureName(name);
    const person = personId && (await this.directory.findPerson(personId));
    if (!person) return undefined;
    const found = { person, size: match[2]!.toUpperCase() as SiteThumbnailSize };
    this.pictureFiles.set(fileName, found);
    return found;
  }

  /** What findByThumbnailFile found for this file name in the last second, from memory only. */
  peekThumbnailFile(fileName: string): { person: Person; size: SiteThumbnailSize } | undefined {
    return this.pictureFiles.get(fileName);
  }

  /**
   * The person's picture name, given once and kept: SharePoint's name for their UPN, unless that
   * belongs to someone else — another person holds it, or an earlier-added person it fits has none
   * yet (it stays theirs) — then `<that>.2`, `.3`, …. A SharePoint name has no `.`, so the two kinds
   * never meet. Two processes naming people at once are kept apart by the unique index.
   */
  async pictureNameFor(person: Person): Promise<string> {
    const stem = thumbnailFileStem(person.userPrincipalName);
    for (let attempt = 0; attempt < 10; attempt++) {
      const named = (await this.store.findProfile(person.id))?.pictureName;
      if (named) return named;
      const holder = await this.store.findPersonIdByPictureName(stem);
      const name =
        holder === undefined || holder === person.id ? stem : `${stem}.${Math.max(1, ...(await this.store.findNameSuffixes(stem))) + 1}`;
      if (await this.store.claimPictureName(person.id, name)) return name;
    }
    throw new Error(`could not give ${person.userPrincipalName} a picture name: the names kept being taken`);
  }

  /**
   * Swaps in a new set of thumbnails and the properties that describe them, in one transaction:
   * nobody ever sees S of one version and L of another.
   */
  async applyMailPhoto(
    personId: string,
    mailEtag: string,
    thumbnails: readonly SiteThumbnail[],
    trigger: SyncTrigger,
    alsoInTransaction?: InTransaction,
  ): Promise<void> {
    await this.swap(personId, mailEtag, thumbnails, trigger, alsoInTransaction);
  }

  /** Mail has no photo (any more): back to the placeholder, with the same all-or-nothing swap. */
  async applyPlaceholder(personId: string, trigger: SyncTrigger, alsoInTransaction?: InTransaction): Promise<void> {
    await this.swap(personId, null, [], trigger, alsoInTransaction);
  }

  /** Nothing changed: only the time of the check is recorded. */
  async recordCheck(personId: string, trigger: SyncTrigger): Promise<void> {
    await this.store.saveCheck(personId, { checkedAt: this.now().toISOString(), error: null, trigger });
  }

  /** The previous copy stays; only the reason is recorded. */
  async recordFailure(personId: string, trigger: SyncTrigger, reason: string): Promise<void> {
    await this.store.saveCheck(personId, { checkedAt: this.now().toISOString(), error: reason.slice(0, 1000), trigger });
  }

  private async swap(
    personId: string,
    mailEtag: string | null,
    thumbnails: readonly SiteThumbnail[],
    trigger: SyncTrigger,
    alsoInTransaction?: InTransaction,
  ): Promise<void> {
    const now = this.now();
    const person = await this.directory.findPerson(personId);
    // Named before the swap: whoever reads the new properties finds the files under that name.
    if (person && mailEtag !== null) await this.pictureNameFor(person);
    await this.store.transaction(async (trx) => {
      await lockPersonRow(trx, personId);
      const previous = (await this.store.findProfile(personId, trx)) ?? this.emptyProfile(personId);
      await this.store.replaceThumbnails(trx, personId, mailEtag, thumbnails);
      const profile: SiteProfile = {
        ...previous,
        syncedEtag: mailEtag,
        pictureTimestamp: nextPictureTimestamp(previous.pictureTimestamp, now),
        lastCheckedAt: now.toISOString(),
        lastSyncedAt: now.toISOString(),
        lastError: null,
        lastErrorAt: null,
        lastTrigger: trigger,
      };
      await this.store.saveProfile(profile, trx);
      await alsoInTransaction?.(trx);
      await this.options.audit?.record(
        {
          actor: SYNC_AUDIT_ACTOR,
          action: 'sites.sync',
          target: { id: personId, name: person?.userPrincipalName ?? personId },
          detail: `${mailEtag ? `S/M/L from Mail ETag ${mailEtag}` : 'back to the placeholder'} (trigger: ${trigger})`,
        },
        trx,
      );
    });
    this.forgetCachedThumbnails(personId);
    await this.options.onSwapped?.(personId);
  }

  /** A swap happened (here or in another process): the next read goes to the database. */
  forgetCachedThumbnails(personId: string): void {
    for (const size of ['S', 'M', 'L'] as const) this.hot.delete(`${personId}:${size}`);
  }

  /** People were disabled, enabled or removed (here or elsewhere): picture files are resolved afresh. */
  forgetCachedPictureFiles(): void {
    this.pictureFiles.clear();
  }

  private emptyProfile(personId: string): SiteProfile {
    return {
      personId,
      syncedEtag: null,
      pictureTimestamp: '',
      lastCheckedAt: null,
      lastSyncedAt: null,
      lastError: null,
      lastErrorAt: null,
      lastTrigger: null,
      pictureName: null,
    };
  }

  private async placeholderFor(person: Person, size: SiteThumbnailSize): Promise<ThumbnailImage> {
    const initials =
      person.displayName
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => w[0])
        .join('')
        .slice(0, 2) || '?';
    const hue = stableHue(person.id);
    const key = `${initials}:${hue}:${size}`;
    const cached = this.placeholders.get(key);
    if (cached) return cached;
    const image = await renderPlaceholder({ initials, hue, size });
    const placeholder: ThumbnailImage = {
      ...image,
      etag: `"placeholder-${hue}-${encodeURIComponent(initials)}-${size}"`,
      placeholder: true,
      sourceEtag: null,
    };
    this.placeholders.set(key, placeholder);
    return placeholder;
  }
}

/** A colour that is the same for a person on every server and every day. */
export function stableHue(personId: string): number {
  return createHash('sha256').update(personId).digest().readUInt16BE(0) % 360;
}

/** Seconds since the epoch, and always later than the previous value, so every version changes it. */
function nextPictureTimestamp(previous: string, now: Date): string {
  const seconds = Math.floor(now.getTime() / 1000);
  const before = Number(previous) || 0;
  return String(Math.max(seconds, before + 1));
}
