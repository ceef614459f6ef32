import type { Logger } from 'pino';
import { describeActor, type AuditLog } from '../audit/index.ts';
import { DIRECTORY_PHOTO_MAX_BYTES, type DirectoryService, type Person } from '../directory/index.ts';
import { InvalidInput, NotPermitted, ImageNotFound, PhotoChangedMeanwhile, PhotoManagedByDirectory, shown } from '../errors.ts';
import { isAdmin, type Actor } from '../identity/index.ts';
import { renderMailPhotoSizes, validatePhotoUpload, type ImageWorkQueue } from '../imaging/index.ts';
import { photoContentEtag, type MailPhotoService, type PhotoOrigin } from '../mail/index.ts';
import { TtlCache } from '../ttl-cache.ts';
import type { DirectoryPhotoStore } from './directory-photo-store.ts';
import {
  DEFAULT_PHOTO_POLICY,
  DIRECTORY_PHOTO_POLICIES,
  DIRECTORY_SOURCES,
  decidePhoto,
  isDirectoryPhotoPolicy,
  isDirectorySource,
  SOURCE_WORDS,
  type DirectoryPhotoOutcome,
  type DirectoryPhotoPolicy,
  type DirectorySource,
} from './photo-policy.ts';

export interface DirectoryPhotoIntakeOptions {
  audit: AuditLog;
  log: Logger;
  imageWork?: ImageWorkQueue;
  now?: () => Date;
  /** Told after a policy is saved (to tell the other server processes). */
  onPolicySaved?: () => Promise<void>;
}

/** Where a person changes a photo the directory manages, in words. */
const WHERE_TO_CHANGE: Record<DirectorySource, string> = {
  ldap: "Change it in the organization's directory (Active Directory or LDAP), or ask whoever manages it; the new photo arrives here at the next directory sync.",
  oidc: "Change it at the organization's sign-in provider (your account there); the new photo arrives here the next time you sign in.",
};

/**
 * Photos from the organization's directories (an LDAP sync, an OIDC sign-in's `picture` claim): each
 * is kept as the person's directory photo, and goes to Mail per the admin's policy for its source.
 * Sites never reads a directory photo; it copies Mail, as always.
 */
export class DirectoryPhotoIntake {
  private readonly policyCache = new TtlCache<string, Map<string, string>>(2000, 1);
  private readonly now: () => Date;

  constructor(
    private readonly store: DirectoryPhotoStore,
    private readonly mail: MailPhotoService,
    private readonly directory: DirectoryService,
    private readonly options: DirectoryPhotoIntakeOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    // The "authoritative" rule lives with Mail's own rules: every change, from any route, asks it.
    mail.guardChangesWith((actor, target) => this.refuseChangeOfManagedPhoto(actor, target));
  }

  /**
   * The directory's photo for this person now (null: the directory has none). Decides per the
   * source's policy; throws an AppError (InvalidImage, …) when the bytes are not a usable image.
   */
  async receive(
    person: Person,
    photo: Buffer | null,
    source: DirectorySource,
  ): Promise<{ outcome: DirectoryPhotoOutcome; reason?: string }> {
    const policy = await this.policy(source);
    const incomingEtag = photo ? photoContentEtag(photo) : null;
    const [last, mailVersion] = await Promise.all([this.store.findLastReceived(person.id, source), this.mail.currentVersion(person)]);
    const decision = decidePhoto({
      source,
      policy,
      incomingEtag,
      last,
      mail: mailVersion && { etag: mailVersion.etag, source: mailVersion.source },
    });
    const directoryChanged = last === undefined || last.receivedEtag !== incomingEtag;
    // Checked (and made small enough to keep) only when new: an unchanged photo costs no image work.
    const directoryCopy = photo && directoryChanged ? await this.directoryCopy(photo) : null;

    let { outcome, reason } = decision;
    let importedEtag = last?.importedEtag ?? null;
    const actor: Actor = { kind: 'operator', name: source };
    // Under "fill when empty", a photo the person chose a moment ago wins: the change is made only
    // if Mail's photo is still none or the directory's own, checked under the person's lock.
    const stillTheDirectorys =
      policy === 'authoritative' ? undefined : (current: { source: PhotoOrigin } | undefined) => !current || current.source === source;
    try {
      if (decision.action === 'import') {
        await this.mail.setPhoto(actor, person, photo!, source, {
          background: true,
          ...(stillTheDirectorys && { onlyIf: stillTheDirectorys }),
        });
        importedEtag = incomingEtag;
      } else if (decision.action === 'remove') {
        await this.mail.removePhoto(actor, person, stillTheDirectorys ? { onlyIf: stillTheDirectorys } : {});
      }
    } catch (error) {
      if (error instanceof PhotoChangedMeanwhile) {
        outcome = 'kept-own-photo';
        reason = 'the person changed their photo in Mail meanwhile';
      } else if (error instanceof PhotoManagedByDirectory) {
        // Another source is authoritative for this person: it decides, this one does not.
        outcome = 'not-used';
        reason = error.message;
      } else if (error instanceof ImageNotFound && decision.action === 'remove') {
        outcome = 'unchanged';
        reason = "Mail's photo was removed meanwhile";
      } else {
        throw error;
      }
    }

    if (directoryChanged) await this.directory.setDirectoryPhoto(person.id, directoryCopy);
    if (directoryChanged || importedEtag !== (last?.importedEtag ?? null)) {
      await this.store.saveReceived(person.id, source, { receivedEtag: incomingEtag, importedEtag }, this.now());
    }
    // Mail's own audit records imports and removals (with the source as the actor); a new directory
    // photo Mail did not take is recorded here, once per change of the directory's photo.
    if (directoryChanged && (outcome === 'not-used' || outcome === 'kept-own-photo')) {
      await this.options.audit.record({
        actor: describeActor(actor),
        action: 'directory.photo',
        target: { id: person.id, name: person.userPrincipalName },
        detail: `${incomingEtag ? `new directory photo, ETag ${incomingEtag}` : 'the directory no longer has a photo'}; Mail's photo left as it is: ${reason} (policy ${policy})`,
      });
    }
    if (outcome === 'imported' || outcome === 'removed') {
      this.options.log.info(
        { person: person.userPrincipalName, source, outcome, policy, etag: incomingEtag },
        `directory photo ${outcome}: ${reason}`,
      );
    }
    return { outcome, reason };
  }

  async policy(source: DirectorySource): Promise<DirectoryPhotoPolicy> {
    const stored = (await this.loadPolicies()).get(this.store.policyKey(source));
    return isDirectoryPhotoPolicy(stored) ? stored : DEFAULT_PHOTO_POLICY;
  }

  async policies(actor: Actor): Promise<Record<DirectorySource, DirectoryPhotoPolicy>> {
    this.assertMayAdminister(actor);
    const [ldap, oidc] = await Promise.all(DIRECTORY_SOURCES.map((source) => this.policy(source)));
    return { ldap: ldap!, oidc: oidc! };
  }

  async setPolicy(actor: Actor, source: DirectorySource, policy: DirectoryPhotoPolicy): Promise<void> {
    this.assertMayAdminister(actor);
    if (!isDirectorySource(source))
      throw new InvalidInput(`"${shown(String(source))}" is not a directory source; use one of ${DIRECTORY_SOURCES.join(', ')}.`);
    if (!isDirectoryPhotoPolicy(policy))
      throw new InvalidInput(`"${shown(String(policy))}" is not a photo policy; use one of ${DIRECTORY_PHOTO_POLICIES.join(', ')}.`);
    const before = await this.policy(source);
    if (before === policy) return;
    const who = describeActor(actor);
    await this.store.savePolicy(source, policy, who.name, this.now());
    this.forgetCached();
    await this.options.audit.record({
      actor: who,
      action: 'directory.photo-policy',
      detail: `photos from ${source}: ${before} → ${policy}`,
      ip: actor.ip ?? null,
    });
    await this.options.onPolicySaved?.();
  }

  assertMayAdminister(actor: Actor): void {
    if (!isAdmin(actor)) throw new NotPermitted('Only an admin can see and change how photos from the directory are used.');
  }

  /** Saved here or in another process. */
  forgetCached(): void {
    this.policyCache.clear();
  }

  private loadPolicies(): Promise<Map<string, string>> {
    return this.policyCache.getOrLoad('policies', () => this.store.readPolicies());
  }

  /**
   * Refuses a change of a photo that an authoritative source manages, whoever makes it (the person,
   * an admin, a token, the CLI, an import); the next sync would undo it. The source itself may.
   */
  private async refuseChangeOfManagedPhoto(actor: Actor, target: Person): Promise<void> {
    const policies = await this.loadPolicies();
    const authoritative = DIRECTORY_SOURCES.filter((s) => policies.get(this.store.policyKey(s)) === 'authoritative');
    if (authoritative.length === 0) return;
    const managing = (await this.store.sourcesOf(target.id)).filter((s): s is DirectorySource => authoritative.some((a) => a === s));
    const other = managing.find((s) => !(actor.kind === 'operator' && actor.name === s));
    if (!other) return;
    const whose =
      actor.kind === 'person' && actor.person.id === target.id ? 'Your photo is' : `The photo of ${target.userPrincipalName} is`;
    throw new PhotoManagedByDirectory(
      `${whose} managed by the organization's directory and comes from ${SOURCE_WORDS[other]}, so it cannot be changed here. ${WHERE_TO_CHANGE[other]}`,
    );
  }

  /**
   * The directory photo as the person's record keeps it (AD's thumbnailPhoto holds at most 100 KB):
   * the photo itself when it fits, else a 240×240 JPEG of it — what Mail would render, so a large
   * sign-in picture is kept small instead of refused.
   */
  private async directoryCopy(photo: Buffer): Promise<Buffer> {
    if (photo.length <= DIRECTORY_PHOTO_MAX_BYTES) {
      await validatePhotoUpload(photo);
      return photo;
    }
    const render = () => renderMailPhotoSizes(photo);
    const { renditions } = await (this.options.imageWork ? this.options.imageWork.run(render, { background: true }) : render());
    return (renditions.find((r) => r.size <= 240 && r.bytes.length <= DIRECTORY_PHOTO_MAX_BYTES) ?? renditions.at(-1)!).bytes;
  }
}
