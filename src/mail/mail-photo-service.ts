import { createHash, randomUUID } from 'node:crypto';
import { describeActor, type AuditLog } from '../audit/index.ts';
import type { Person } from '../directory/index.ts';
import { AppError, NotPermitted, ImageNotFound, PhotoChangedMeanwhile, PhotoChangedWhileRead } from '../errors.ts';
import { hasAdminRole, actorPersonId, type Actor } from '../identity/index.ts';
import { convertBmpToPng, renderMailPhotoSizes, type GraphPhotoSize, type ImageWorkQueue } from '../imaging/index.ts';
import type { Metrics } from '../metrics.ts';
import { lockPersonRow, type Schema } from '../storage/index.ts';
import type { Transaction } from 'kysely';
import { TtlCache } from '../ttl-cache.ts';
import type { PhotoStore } from './photo-store.ts';
import type { PhotoChange, PhotoOrigin, PhotoVersion, StoredRendition } from './photo-version.ts';

/** `fresh` skips the short-lived cache: the sync must compare against what the database holds now. */
export interface ReadOptions {
  fresh?: boolean;
}

export type PhotoChangeListener = (change: PhotoChange) => void | Promise<void>;
/**
 * A rule another domain adds to every photo change (e.g. "this person's photo is managed by the
 * directory"): it throws an AppError to refuse the change before anything is read or stored.
 */
export type PhotoChangeGuard = (actor: Actor, target: Person, source: PhotoOrigin | 'remove') => Promise<void>;
/** Writes what a change must cause (a sync request) in the change's own transaction. */
export type PhotoChangeRecorder = (personId: string, trx: Transaction<Schema>) => Promise<void>;

export interface MailPhotoOptions {
  metrics?: Pick<Metrics, 'photoUploads' | 'imageProcessingSeconds'>;
  now?: () => Date;
  newId?: () => string;
  /** How long another process's photo change may take to show here. */
  cacheTtlMs?: number;
  onListenerError?: (error: unknown, change: PhotoChange) => void;
  /** Every change is recorded in the same transaction as the change. */
  audit?: AuditLog;
  /** Shared with the sync, so all image work in the process has one bound. */
  imageWork?: ImageWorkQueue;
}

export interface UploadLimits {
  maxBytes?: number;
  /** Imports wait for image work instead of being refused when the server is busy. */
  background?: boolean;
  /** SetMyProfilePicture also takes BMP (converted to PNG first, inside the bounded image work). */
  acceptBmp?: boolean;
  /**
   * Stores the photo only if the person's current photo (read under the person's lock) still
   * allows it; otherwise PhotoChangedMeanwhile. A directory's "fill when empty" must not replace a
   * photo the person uploaded a moment before.
   */
  onlyIf?: (current: PhotoVersion | undefined) => boolean;
}

/** Mail: the one source of truth for profile photos. */
export class MailPhotoService {
  private readonly listeners = new Set<PhotoChangeListener>();
  private readonly recorders: PhotoChangeRecorder[] = [];
  private readonly guards: PhotoChangeGuard[] = [];
  private readonly currentVersions: TtlCache<string, PhotoVersion | null>;
  // Renditions never change once written (a new photo is a new version), so their cache needs no invalidation.
  private readonly renditions = new TtlCache<string, StoredRendition>(10 * 60_000, 5000);
  private readonly now: () => Date;
  private readonly newId: () => string;

  constructor(
    private readonly store: PhotoStore,
    private readonly options: MailPhotoOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.newId = options.newId ?? randomUUID;
    this.currentVersions = new TtlCache(options.cacheTtlMs ?? 1000, 10_000);
  }

  /** Called inside each change's transaction: what it writes commits or rolls back with the change. */
  recordChangesWith(recorder: PhotoChangeRecorder): void {
    this.recorders.push(recorder);
  }

  /** Asked before every change (set or remove), whoever makes it; a guard refuses by throwing. */
  guardChangesWith(guard: PhotoChangeGuard): void {
    this.guards.push(guard);
  }

  /** Called after each committed change, never inside the transaction. */
  onPhotoChanged(listener: PhotoChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Any signed-in person or token may read photos, as in Microsoft 365. */
  async getPhoto(_reader: Actor, target: Person, options: ReadOptions = {}): Promise<PhotoVersion> {
    const version = await this.findCurrentVersion(target.id, options);
    if (!version) throw new ImageNotFound(`${target.userPrincipalName} has no profile photo.`);
    return version;
  }

  /** The requested size, or the largest stored one. */
  async getRendition(reader: Actor, target: Person, size?: GraphPhotoSize, options: ReadOptions = {}): Promise<StoredRendition> {
    const version = await this.getPhoto(reader, target, options);
    const chosen = size ?? version.sizes[0]!;
    if (!version.sizes.includes(chosen)) {
      throw new ImageNotFound(
        `The photo of ${target.userPrincipalName} has no ${chosen}x${chosen} size; the largest stored size is ${version.sizes[0]}x${version.sizes[0]}.`,
      );
    }
    const key = `${version.id}:${chosen}`;
    let rendition = this.renditions.get(key);
    if (!rendition) {
      const row = await this.store.findRendition(version.id, chosen);
      if (!row) {
        // The version was replaced between the two reads: answer once more, from the database's current one.
        if (options.fresh)
          throw new PhotoChangedWhileRead(`The photo of ${target.userPrincipalName} changed while it was read; try again.`);
        this.currentVersions.delete(target.id);
        return this.getRendition(reader, target, size, { fresh: true });
      }
      rendition = { ...row, versionEtag: version.etag, etag: `${version.etag}-${chosen}` };
      this.renditions.set(key, rendition);
    }
    return rendition;
  }

  /**
   * The rendition getRendition would answer, when memory holds both the person's current version and
   * that size (the hot photo reads' fast path); undefined sends the caller to getRendition.
   */
  peekRendition(personId: string, size?: GraphPhotoSize): StoredRendition | undefined {
    const version = this.currentVersions.get(personId);
    if (!version) return undefined;
    return this.renditions.get(`${version.id}:${size ?? version.sizes[0]!}`);
  }

  /**
   * Validates and renders the upload first (no transaction is held during image work), then swaps
   * the current version in one transaction. The same bytes as the current photo change nothing.
   */
  async setPhoto(
    actor: Actor,
    target: Person,
    bytes: Buffer,
    source: PhotoOrigin,
    limits: UploadLimits = {},
  ): Promise<{ version: PhotoVersion; changed: boolean }> {
    assertCanEditPhoto(actor, target);
    for (const guard of this.guards) await guard(actor, target, source);
    const rendered = await this.render(bytes, limits);
    const etag = photoContentEtag(bytes);
    const largest = rendered.renditions[0]!;
    const now = this.now();

    const outcome = await this.store.transaction(async (trx) => {
      await lockPersonRow(trx, target.id);
      const current = await this.store.findCurrentVersion(target.id, trx);
      if (current?.etag === etag) return { version: current, changed: false, previousEtag: current.etag };
      if (limits.onlyIf && !limits.onlyIf(current))
        throw new PhotoChangedMeanwhile(`The photo of ${target.userPrincipalName} changed meanwhile; it was left as it is.`);
      if (current) await this.store.endCurrentVersion(trx, current.id, 'replaced', now);
      const version: PhotoVersion = {
        id: this.newId(),
        personId: target.id,
        etag,
        width: largest.width,
        height: largest.height,
        source,
        setById: actorPersonId(actor),
        createdAt: now.toISOString(),
        sizes: rendered.renditions.map((r) => r.size),
      };
      await this.store.insertVersion(trx, version, rendered.renditions);
      for (const record of this.recorders) await record(target.id, trx);
      await this.options.audit?.record(
        {
          actor: describeActor(actor, source === 'import' ? 'import' : undefined),
          action: current ? 'photo.replace' : 'photo.set',
          target: { id: target.id, name: target.userPrincipalName },
          detail: `${rendered.renditions.length} sizes up to ${largest.width}x${largest.height}, ETag ${etag}, from ${source}`,
          ip: actor.ip ?? null,
        },
        trx,
      );
      return { version, changed: true, previousEtag: current?.etag ?? null };
    });

    this.options.metrics?.photoUploads.inc({ result: outcome.changed ? 'stored' : 'unchanged' });
    this.currentVersions.delete(target.id);
    if (outcome.changed) {
      await this.emit({ kind: 'set', personId: target.id, version: outcome.version, previousEtag: outcome.previousEtag });
    }
    return { version: outcome.version, changed: outcome.changed };
  }

  /** `onlyIf`: removes only if the current photo (read under the person's lock) still allows it. */
  async removePhoto(actor: Actor, target: Person, options: { onlyIf?: (current: PhotoVersion) => boolean } = {}): Promise<void> {
    assertCanEditPhoto(actor, target);
    for (const guard of this.guards) await guard(actor, target, 'remove');
    const now = this.now();
    const removed = await this.store.transaction(async (trx) => {
      await lockPersonRow(trx, target.id);
      const current = await this.store.findCurrentVersion(target.id, trx);
      if (current && options.onlyIf && !options.onlyIf(current))
        throw new PhotoChangedMeanwhile(`The photo of ${target.userPrincipalName} changed meanwhile; it was left as it is.`);
      if (current) {
        await this.store.endCurrentVersion(trx, current.id, 'removed', now);
        for (const record of this.recorders) await record(target.id, trx);
        await this.options.audit?.record(
          {
            actor: describeActor(actor),
            action: 'photo.remove',
            target: { id: target.id, name: target.userPrincipalName },
            detail: `ETag ${current.etag}`,
            ip: actor.ip ?? null,
          },
          trx,
        );
      }
      return current;
    });
    this.currentVersions.delete(target.id);
    if (!removed) throw new ImageNotFound(`${target.userPrincipalName} has no profile photo to remove.`);
    await this.emit({ kind: 'removed', personId: target.id, previousEtag: removed.etag });
  }

  /**
   * Why this actor cannot change this person's photo now (the rule's own message, e.g. "managed by
   * the organization's directory"), or undefined: a page shows it instead of a form that would fail.
   */
  async changeRefusal(actor: Actor, target: Person): Promise<string | undefined> {
    try {
      assertCanEditPhoto(actor, target);
      for (const guard of this.guards) await guard(actor, target, 'page');
      return undefined;
    } catch (error) {
      if (error instanceof AppError) return error.message;
      throw error;
    }
  }

  /**
   * The checks an upload can pass or fail before its body is read: who may change whose photo, and
   * whether there is room for more image work (else 503 at once, instead of after reading 4 MB).
   */
  assertUploadAccepted(actor: Actor, target: Person): void {
    assertCanEditPhoto(actor, target);
    this.options.imageWork?.assertRoomForUpload();
  }

  /**
   * Everything an upload goes through short of storing it (for a dry run): the same validation and
   * rendering, and the ETag the photo would get.
   */
  async checkPhoto(bytes: Buffer, limits: UploadLimits = {}): Promise<{ etag: string }> {
    await this.render(bytes, limits);
    return { etag: photoContentEtag(bytes) };
  }

  /** The person's current photo (its ETag, source, who set it), read from the database (not the cache). */
  async currentVersion(target: Person): Promise<PhotoVersion | undefined> {
    return this.store.findCurrentVersion(target.id);
  }

  /** The ETag of the person's current photo, read from the database (not the cache). */
  async currentEtag(target: Person): Promise<string | null> {
    return (await this.store.findCurrentVersion(target.id))?.etag ?? null;
  }

  private async render(bytes: Buffer, limits: UploadLimits) {
    const render = async () =>
      renderMailPhotoSizes(
        limits.acceptBmp ? await convertBmpToPng(bytes) : bytes,
        limits.maxBytes === undefined ? {} : { maxBytes: limits.maxBytes },
      );
    const started = performance.now();
    try {
      return await (this.options.imageWork ? this.options.imageWork.run(render, { background: limits.background === true }) : render());
    } catch (error) {
      if (error instanceof AppError) this.options.metrics?.photoUploads.inc({ result: 'rejected' });
      throw error;
    } finally {
      this.options.metrics?.imageProcessingSeconds.observe((performance.now() - started) / 1000);
    }
  }

  /** Another process changed this person's photo: the next read goes to the database. */
  forgetCachedPhoto(personId: string): void {
    this.currentVersions.delete(personId);
  }

  private async findCurrentVersion(personId: string, options: ReadOptions): Promise<PhotoVersion | undefined> {
    if (options.fresh) return this.store.findCurrentVersion(personId);
    return (
      (await this.currentVersions.getOrLoad(personId, async () => (await this.store.findCurrentVersion(personId)) ?? null)) ?? undefined
    );
  }

  private async emit(change: PhotoChange): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener(change);
      } catch (error) {
        this.options.onListenerError?.(error, change);
      }
    }
  }
}

/** A photo's ETag is a hash of the uploaded bytes: the same file uploaded again is the same version. */
export function photoContentEtag(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/**
 * A person may change only their own photo; an admin (Set-UserPhoto) or the operator anyone's. The
 * admin's right goes with a `photos` token too: such a token acts on photos as its person.
 */
export function assertCanEditPhoto(actor: Actor, target: Person): void {
  if (hasAdminRole(actor)) return;
  if (actor.kind === 'person' && actor.person.id === target.id) return;
  throw new NotPermitted("You can change only your own photo; an admin can change anyone's.");
}
