import type { Logger } from 'pino';
import { describeActor, type AuditLog, type NewAuditEntry } from '../audit/index.ts';
import { ROLES, type DirectoryService, type Person, type PeopleQuery, type Role } from '../directory/index.ts';
import { AppError, InvalidInput, NotFound, NotPermitted, PhotoManagedByDirectory, shown, UserNotFound } from '../errors.ts';
import { isAdmin, type Actor, type IdentityService } from '../identity/index.ts';
import type { MailPhotoService } from '../mail/index.ts';
import type { SitesService } from '../sites/index.ts';
import { DISABLED_MAIL_PHOTO_CHOICES, type DisabledMailPhoto, type PeopleSettingsStore } from './people-settings.ts';

export type PersonDetails = { userPrincipalName: string; displayName?: string; mail?: string; role?: Role };

/** What changed, for the caches of the other server processes (the topics services.ts subscribes to). */
export type PeopleChangeTopic = 'people' | 'sites' | 'mail';

export interface PeopleLifecycleServices {
  directory: DirectoryService;
  identity: IdentityService;
  mail: MailPhotoService;
  sites: SitesService;
  audit: AuditLog;
  settings: PeopleSettingsStore;
}

export interface PeopleLifecycleOptions {
  log: Logger;
  /** Held while the last-admin rule is checked and the change made, so two admins cannot both pass it at once. */
  withLock: <T>(key: string, work: () => Promise<T>) => Promise<T>;
  /** Tells every server process (this one too) that `key` of `topic` changed; logs its own failures. */
  announce: (topic: PeopleChangeTopic, key: string) => Promise<void>;
  /** The Mail photo of a person being disabled was removed: Sites should follow (a stored sync request). */
  onMailPhotoRemoved?: (person: Person) => Promise<void>;
}

/** One lock for every change that could leave the installation without an enabled admin. */
const ADMINS_LOCK = 'people:enabled-admins';

/** The last enabled admin is kept: without one, nobody could administer (or undo this) from the web. */
export class LastAdmin extends AppError {
  constructor(person: Person, what: string) {
    super(
      'Conflict',
      `${shown(person.userPrincipalName)} is the last enabled admin and cannot be ${what}; make another person an admin first.`,
    );
  }
}

/**
 * The people lifecycle: add, update, disable, enable, remove, and passwords set or reset by an
 * admin. Only admins (and the operator) may; an admin never disables or removes themself, and the
 * last enabled admin is never disabled, removed or demoted. Every change is audited.
 */
export class PeopleLifecycle {
  private readonly log: Logger;
  /** The admin-count changes of this process, one after another (the cross-process lock is a pass-through on SQLite). */
  private adminChanges: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly services: PeopleLifecycleServices,
    private readonly options: PeopleLifecycleOptions,
  ) {
    this.log = options.log;
  }

  /** Who may manage people, settled before a form's body is read. */
  assertMayManagePeople(actor: Actor): void {
    if (!isAdmin(actor)) throw new NotPermitted('Only an admin can manage people.');
  }

  /** An admin never disables themself (another admin can): settled before a form's body is read. */
  assertMayDisable(actor: Actor, person: Person): void {
    this.assertMayManagePeople(actor);
    if (isSelf(actor, person)) throw new NotPermitted('You cannot disable yourself; another admin can.');
  }

  /** An admin never removes themself (another admin can). */
  assertMayRemove(actor: Actor, person: Person): void {
    this.assertMayManagePeople(actor);
    if (isSelf(actor, person)) throw new NotPermitted('You cannot remove yourself; another admin can.');
  }

  /** One person as an admin manages them (role, state, mail); UserNotFound when nobody has that id or name. */
  async getPerson(actor: Actor, idOrUpn: string): Promise<Person> {
    this.assertMayManagePeople(actor);
    return this.services.directory.getPerson(idOrUpn);
  }

  async search(actor: Actor, query: PeopleQuery): Promise<Person[]> {
    this.assertMayManagePeople(actor);
    return this.services.directory.searchPeople(query);
  }

  async add(actor: Actor, details: PersonDetails & { password?: string; mustChangePassword?: boolean }): Promise<Person> {
    this.assertMayManagePeople(actor);
    const passwordHash = details.password === undefined ? undefined : await this.services.identity.hashPassword(details.password);
    const mustChangePassword = passwordHash !== undefined && details.mustChangePassword === true;
    const person = await this.services.directory.addPerson({
      userPrincipalName: details.userPrincipalName,
      displayName: details.displayName,
      mail: details.mail,
      role: details.role,
      passwordHash,
      mustChangePassword,
    });
    const password =
      passwordHash === undefined ? 'no password yet' : mustChangePassword ? 'a password to change at first sign-in' : 'a password';
    await this.record(
      actor,
      'person.add',
      person,
      `${person.displayName}, role ${person.role}, ${person.mail ? `mail ${person.mail}` : 'no mail'}, ${password}`,
    );
    return person;
  }

  async update(actor: Actor, person: Person, details: { displayName?: string; mail?: string | null }): Promise<Person> {
    this.assertMayManagePeople(actor);
    const before = await this.fresh(person);
    await this.services.directory.updateDetails(before.id, details);
    const after = await this.fresh(before);
    const changes = [
      ...(after.displayName !== before.displayName ? [`display name "${before.displayName}" → "${after.displayName}"`] : []),
      ...(after.mail !== before.mail ? [`mail ${before.mail ?? '(none)'} → ${after.mail ?? '(none)'}`] : []),
    ];
    if (changes.length > 0) {
      await this.peopleChanged();
      await this.record(actor, 'person.update', after, changes.join('; '));
    }
    return after;
  }

  /** Admin or user. Demoting the last enabled admin is refused. */
  async setRole(actor: Actor, person: Person, role: Role): Promise<Person> {
    this.assertMayManagePeople(actor);
    if (!ROLES.includes(role)) throw new InvalidInput(`"${shown(String(role))}" is not a role; use one of ${ROLES.join(', ')}.`);
    const changed = await this.withAdminsLock(async () => {
      const current = await this.fresh(person);
      if (current.role === role) return undefined;
      if (current.role === 'admin' && current.enabled && (await this.services.directory.countEnabledAdmins()) <= 1)
        throw new LastAdmin(current, 'made a user');
      await this.services.directory.setRole(current.id, role);
      return current;
    });
    if (changed) {
      // Cached sessions and tokens carry the role too: peopleChanged forgets them everywhere.
      await this.peopleChanged();
      await this.record(actor, 'person.role', changed, `${changed.role} → ${role}`);
    }
    return this.fresh(person);
  }

  /**
   * Disables the person (idempotent): they can no longer sign in, their sessions end and their tokens
   * are revoked at once in every process, Sites shows their placeholder, and their Mail photo is
   * kept or removed per the admins' setting.
   */
  async disable(actor: Actor, person: Person, options: { reason?: string } = {}): Promise<void> {
    this.assertMayDisable(actor, person);
    const disabled = await this.withAdminsLock(async () => {
      const current = await this.fresh(person);
      if (!current.enabled) return undefined;
      if (current.role === 'admin' && (await this.services.directory.countEnabledAdmins()) <= 1) throw new LastAdmin(current, 'disabled');
      await this.services.directory.setEnabled(current.id, false);
      return current;
    });
    if (!disabled) return;
    // First the caches of people, sessions and tokens everywhere: from then on every request finds them disabled.
    await this.peopleChanged();
    await this.forgetSitesCopy(disabled.id);
    const ended = await this.services.identity.endAccessOf(disabled.id);
    const photo = await this.applyMailPhotoSetting(actor, { ...disabled, enabled: false });
    const reason = options.reason?.trim() ? `reason: ${options.reason.trim().slice(0, 500)}; ` : '';
    await this.record(
      actor,
      'person.disable',
      disabled,
      `${reason}ended ${ended.sessions} sessions, revoked ${ended.tokens} tokens; ${photo}`,
    );
    this.log.info(
      { personId: disabled.id, userPrincipalName: disabled.userPrincipalName, by: describeActor(actor).name, ...ended },
      'disabled a person',
    );
  }

  /** Enables the person again (idempotent): they can sign in; a Mail photo removed at disabling stays removed. */
  async enable(actor: Actor, person: Person): Promise<void> {
    this.assertMayManagePeople(actor);
    const current = await this.fresh(person);
    if (current.enabled) return;
    await this.services.directory.setEnabled(current.id, true);
    await this.peopleChanged();
    await this.forgetSitesCopy(current.id);
    await this.record(actor, 'person.enable', current, null);
  }

  /**
   * Removes the person: their Mail photos, Sites copies, sync history, sessions and tokens go with
   * them; the audit log keeps every entry about them (by id and name), and records this one.
   */
  async remove(actor: Actor, person: Person): Promise<void> {
    this.assertMayRemove(actor, person);
    await this.withAdminsLock(async () => {
      const current = await this.fresh(person);
      if (current.role === 'admin' && current.enabled && (await this.services.directory.countEnabledAdmins()) <= 1)
        throw new LastAdmin(current, 'removed');
      // Counted (and the caches told) before the rows go: the counts are the audit's, the notices end cached tokens.
      const ended = await this.services.identity.endAccessOf(current.id);
      const entry = this.entry(
        actor,
        'person.remove',
        current,
        `${current.displayName}, role ${current.role}; deleted the Mail photos, Sites copies and sync history; ended ${ended.sessions} sessions, revoked ${ended.tokens} tokens`,
      );
      const removed = await this.services.directory.removePerson(current.id, (trx) => this.services.audit.record(entry, trx));
      if (!removed) throw new UserNotFound(current.userPrincipalName);
    });
    // The photos are gone from the database; no process may keep serving them from memory.
    await this.peopleChanged();
    await this.forgetSitesCopy(person.id);
    this.services.mail.forgetCachedPhoto(person.id);
    await this.options.announce('mail', person.id);
  }

  /** Sets the person's password (checked for strength); their sessions end. `mustChange`: to replace at the next sign-in. */
  async setPassword(actor: Actor, person: Person, password: string, options: { mustChange?: boolean } = {}): Promise<void> {
    this.assertMayManagePeople(actor);
    const mustChange = options.mustChange === true;
    await this.replacePassword(
      actor,
      person,
      password,
      mustChange,
      `set a new password${mustChange ? ' to change at the next sign-in' : ''}`,
    );
  }

  /**
   * A new one-time password, returned to be shown once: the person signs in with it and must then
   * choose their own (nothing else opens until they do). Their sessions end.
   */
  async resetPassword(actor: Actor, person: Person): Promise<{ oneTimePassword: string }> {
    this.assertMayManagePeople(actor);
    if (isSelf(actor, person)) throw new InvalidInput('Change your own password on the password page (/account/password) instead.');
    const oneTimePassword = this.services.identity.newOneTimePassword();
    await this.replacePassword(actor, person, oneTimePassword, true, 'reset to a one-time password to change at the next sign-in');
    return { oneTimePassword };
  }

  /** A password set by an admin: stored, the person's sessions ended everywhere, and audited. */
  private async replacePassword(actor: Actor, person: Person, password: string, mustChange: boolean, what: string): Promise<void> {
    const current = await this.fresh(person);
    await this.services.identity.setPassword(current.id, password, { mustChange });
    const sessions = await this.services.identity.endSessionsOf(current.id);
    await this.peopleChanged();
    await this.record(actor, 'person.password', current, `${what}; ended ${sessions} sessions`);
  }

  async disabledMailPhoto(actor: Actor): Promise<DisabledMailPhoto> {
    this.assertMayManagePeople(actor);
    return this.services.settings.disabledMailPhoto();
  }

  /** Applies to people disabled from now on; those disabled before keep what they have. */
  async setDisabledMailPhoto(actor: Actor, value: unknown): Promise<void> {
    this.assertMayManagePeople(actor);
    if (typeof value !== 'string' || !(DISABLED_MAIL_PHOTO_CHOICES as readonly string[]).includes(value)) {
      throw new InvalidInput(`Choose what happens to a disabled person's Mail photo: ${DISABLED_MAIL_PHOTO_CHOICES.join(' or ')}.`);
    }
    const before = await this.services.settings.disabledMailPhoto();
    if (before === value) return;
    await this.services.settings.saveDisabledMailPhoto(value as DisabledMailPhoto, describeActor(actor).name);
    await this.services.audit.record({
      actor: describeActor(actor),
      action: 'people.settings',
      detail: `a disabled person's Mail photo: ${before} → ${value}`,
      ip: actor.ip ?? null,
    });
  }

  /** Returns what happened to the photo, for the audit entry; a failure is logged and said there, not thrown (the person is disabled either way). */
  private async applyMailPhotoSetting(actor: Actor, person: Person): Promise<string> {
    if ((await this.services.settings.disabledMailPhoto()) === 'keep') return 'Mail photo kept (setting)';
    try {
      await this.services.mail.removePhoto(actor, person);
    } catch (error) {
      if (error instanceof NotFound) return 'no Mail photo to remove';
      // The directory owns this photo (an authoritative policy): it stays, and that is no failure.
      if (error instanceof PhotoManagedByDirectory) return "Mail photo kept: the organization's directory manages it";
      this.log.error(
        { err: error, personId: person.id, userPrincipalName: person.userPrincipalName },
        'disabled a person but could not remove their Mail photo as the setting asks',
      );
      return `could not remove the Mail photo: ${error instanceof Error ? error.message : String(error)}`;
    }
    await this.options
      .onMailPhotoRemoved?.(person)
      .catch((error: unknown) =>
        this.log.warn(
          { err: error, personId: person.id },
          "removed a disabled person's Mail photo but could not ask Sites to follow; the next sync does",
        ),
      );
    return 'Mail photo removed (setting)';
  }

  /** Whoever checks the last-admin rule and acts on it goes alone: in this process, and across processes. */
  private withAdminsLock<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.adminChanges.then(() => this.options.withLock(ADMINS_LOCK, work));
    // The next change waits for this one, not for its outcome: the caller awaits `turn` and sees any error.
    this.adminChanges = turn.catch(() => undefined);
    return turn;
  }

  /** The person as the database has them now (the caller's copy may be seconds old). */
  private async fresh(person: Person): Promise<Person> {
    const current = await this.services.directory.findPersonFresh(person.id);
    if (!current) throw new UserNotFound(person.userPrincipalName);
    return current;
  }

  /**
   * Forgets cached people here — the directory's, the sessions' and tokens' actors, Sites' picture
   * files — and tells the other processes to (services.ts subscribes the same three to 'people').
   */
  private async peopleChanged(): Promise<void> {
    this.services.directory.forgetCachedPeople();
    this.services.identity.forgetCachedCredentials();
    this.services.sites.forgetCachedPictureFiles();
    await this.options.announce('people', '*');
  }

  /** Sites' hot copy of the person, here and in the other processes: the next read decides afresh. */
  private async forgetSitesCopy(personId: string): Promise<void> {
    this.services.sites.forgetCachedThumbnails(personId);
    await this.options.announce('sites', personId);
  }

  private entry(actor: Actor, action: NewAuditEntry['action'], person: Person, detail: string | null): NewAuditEntry {
    return { actor: describeActor(actor), action, target: { id: person.id, name: person.userPrincipalName }, detail, ip: actor.ip ?? null };
  }

  private async record(actor: Actor, action: NewAuditEntry['action'], person: Person, detail: string | null): Promise<void> {
    await this.services.audit.record(this.entry(actor, action, person, detail));
  }
}

function isSelf(actor: Actor, person: Person): boolean {
  return actor.kind === 'person' && actor.person.id === person.id;
}
