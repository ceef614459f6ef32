import { hash, randomBytes as cryptoRandomBytes, randomUUID } from 'node:crypto';
import type { Algorithm } from '@node-rs/argon2';
import { describeActor, type AuditLog } from '../audit/index.ts';
import type { DirectoryService, Person } from '../directory/index.ts';
import { InvalidInput, NotPermitted, hasControlCharacters, NotFound, shown, Unauthenticated } from '../errors.ts';
import { isAdmin, type Actor, type TokenScope } from '../actor.ts';
import type { ApiTokenInfo, CredentialStore } from './credential-store.ts';
import { TtlCache } from '../ttl-cache.ts';

export const MIN_PASSWORD_LENGTH = 12;
/** Loaded at the first password work: most commands (and every photo read) never need it. */
const argon2 = () => import('@node-rs/argon2');
/** Algorithm.Argon2id; the package declares it as a const enum, which isolated modules cannot read. */
const ARGON2ID = 2 as Algorithm;
const TOKEN_PREFIX = 'psk_';
// Writing last-seen on every request would turn each read into a write; once a minute is enough.
const SESSION_TOUCH_INTERVAL_MS = 60_000;
const HOUR_MS = 3_600_000;
/** A token made without an expiry of its own lives 90 days. */
export const DEFAULT_TOKEN_LIFETIME_MS = 90 * 24 * HOUR_MS;
/** One message for an unknown person and a wrong password, so sign-in tells nobody who exists. */
export const SIGN_IN_FAILED = 'The user name or password is incorrect.';
export const PASSWORD_SIGN_IN_OFF = 'Sign-in with a password is turned off here: use the button to sign in with your organization account.';
/** Said only to whoever gives the right password, so it tells a stranger nothing more than SIGN_IN_FAILED does. */
export const SIGN_IN_DISABLED = 'Your account is disabled, so you cannot sign in. An admin can enable it again.';

export interface IdentityOptions {
  /** A session ends after this long without a request (the idle timeout)… */
  sessionTtlHours: number;
  /** …and at the latest this long after the sign-in, however active (the absolute lifetime). */
  sessionLifetimeHours: number;
  now?: () => Date;
  randomBytes?: (size: number) => Buffer;
  audit?: AuditLog;
  /**
   * Told after tokens were revoked or sessions ended (to tell the other server processes, which
   * cache both for seconds); logs its own failures.
   */
  onCredentialsEnded?: () => Promise<void>;
  /** False: sign-in with a local password is refused (people sign in through the organization's provider). */
  localPasswords?: boolean;
}

export interface ApiTokenOptions {
  /** `photos` unless asked; `admin` only for an admin's token. */
  scope?: TokenScope;
  /** From now; null: never expires. Default DEFAULT_TOKEN_LIFETIME_MS. */
  expiresInMs?: number | null;
}

export interface PasswordChange {
  /** The session the change was made from: it is replaced by a new one (a new id), returned. */
  sessionToken?: string | undefined;
  /** Also revoke every API token of the person. */
  revokeTokens?: boolean;
  /** Who is changing it (the person, signed in), for the audit log. */
  actor?: Actor;
}

export interface SignedIn {
  /** The cookie value; only its hash is stored. */
  sessionToken: string;
  person: Person;
}

export class IdentityService {
  private readonly now: () => Date;
  private readonly nowMs: () => number;
  private readonly randomBytes: (size: number) => Buffer;
  private decoyHash: Promise<string> | undefined;
  /**
   * Bearer tokens seen in the last few seconds. A revocation here clears it at once; one made by
   * another process (the CLI) takes effect within the TTL.
   */
  private readonly recentTokens: TtlCache<string, { actor: Actor; expiresAt: string | null; expiresAtMs: number }>;
  /**
   * Sessions resolved in the last few seconds, by the hash of the cookie, with when they end. Ending
   * sessions here forgets them at once, here and (through onCredentialsEnded) in the other processes.
   */
  private readonly recentSessions: TtlCache<string, { actor: Actor; endsAt: number }>;

  constructor(
    private readonly credentials: CredentialStore,
    private readonly directory: DirectoryService,
    private readonly options: IdentityOptions,
  ) {
    const now = options.now;
    this.now = now ?? (() => new Date());
    // Milliseconds for the hot reads' lookups, without a Date per call when the clock is the real one.
    this.nowMs = now ? () => now().getTime() : Date.now;
    this.randomBytes = options.randomBytes ?? cryptoRandomBytes;
    // On the service's clock, so a session idle past its timeout is judged (and touched) by the database.
    this.recentTokens = new TtlCache(5000, 10_000, this.nowMs);
    this.recentSessions = new TtlCache(5000, 20_000, this.nowMs);
  }

  async hashPassword(password: string): Promise<string> {
    assertStrongPassword(password);
    return (await argon2()).hash(password, { algorithm: ARGON2ID });
  }

  async setPassword(personId: string, password: string, options: { mustChange?: boolean } = {}): Promise<void> {
    await this.directory.setPasswordHash(personId, await this.hashPassword(password), options.mustChange ?? false);
  }

  /** A fresh random session id at every sign-in (no fixation). */
  async signIn(name: string, password: string): Promise<SignedIn> {
    if (this.options.localPasswords === false) throw new NotPermitted(PASSWORD_SIGN_IN_OFF);
    // Read fresh: the password check costs far more than the query, and a change made elsewhere counts at once.
    const person = name.length <= 256 ? await this.directory.findByUpnOrMail(name.trim(), { fresh: true }) : undefined;
    const storedHash = person ? await this.directory.findPasswordHash(person.id) : null;
    // Verify against a decoy when there is nothing to verify, so timing does not reveal who exists.
    const { verify } = await argon2();
    const ok = await verify(storedHash ?? (await this.getDecoyHash()), password.slice(0, 1024)).catch(() => false);
    if (!person || !storedHash || !ok) throw new Unauthenticated(SIGN_IN_FAILED);
    if (!person.enabled) throw new Unauthenticated(SIGN_IN_DISABLED);

    return { sessionToken: await this.startSession(person.id), person };
  }

  /**
   * A sign-in the organization's identity provider vouched for (OIDC): no password, the same session
   * as a password sign-in. A disabled person is refused. Audited with its source.
   */
  async signInVouchedFor(found: Person, via: { source: 'oidc'; ip?: string | undefined; detail?: string }): Promise<SignedIn> {
    // Read fresh, as a password sign-in does: a disable made elsewhere a moment ago counts.
    const person = (await this.directory.findByUpnOrMail(found.userPrincipalName, { fresh: true })) ?? found;
    if (person.enabled === false)
      throw new NotPermitted(`${person.userPrincipalName} is disabled in photosync and cannot sign in; ask an admin.`);
    const sessionToken = await this.startSession(person.id);
    await this.options.audit?.record({
      actor: { kind: via.source, id: person.id, name: person.userPrincipalName },
      action: 'signin',
      target: { id: person.id, name: person.userPrincipalName },
      detail: via.detail ?? `signed in through ${via.source}`,
      ip: via.ip ?? null,
    });
    return { sessionToken, person };
  }

  private async startSession(personId: string): Promise<string> {
    const sessionToken = this.randomBytes(32).toString('base64url');
    const now = this.now();
    await this.credentials.insertSession(sha256(sessionToken), personId, now, this.sessionExpiry(now, now));
    return sessionToken;
  }

  async resolveSession(sessionToken: string): Promise<Actor | undefined> {
    const idHash = sha256(sessionToken);
    const cached = this.cachedSession(idHash);
    if (cached) return cached;
    const session = await this.credentials.findSession(idHash);
    if (!session) return undefined;
    const now = this.now();
    const signedInAt = new Date(session.created_at);
    // The absolute lifetime is judged from the sign-in itself too, so a shorter setting applies at once.
    if (session.expires_at <= now.toISOString() || this.lifetimeEnd(signedInAt) <= now) {
      await this.credentials.deleteSession(idHash);
      return undefined;
    }
    const person = await this.directory.findPerson(session.person_id);
    if (!person?.enabled) return undefined;
    let endsAt = Date.parse(session.expires_at);
    if (now.getTime() - Date.parse(session.last_seen_at) > SESSION_TOUCH_INTERVAL_MS) {
      const expiry = this.sessionExpiry(signedInAt, now);
      await this.credentials.touchSession(idHash, now, expiry);
      endsAt = expiry.getTime();
    }
    const actor: Actor = { kind: 'person', person, via: 'session', sessionKey: idHash };
    this.recentSessions.set(idHash, { actor, endsAt: Math.min(endsAt, this.lifetimeEnd(signedInAt).getTime()) });
    return actor;
  }

  /** The session's actor when it was resolved in the last few seconds and has not ended; memory only. */
  peekSession(sessionToken: string): Actor | undefined {
    return this.cachedSession(sha256(sessionToken));
  }

  /** The bearer token's actor when it was seen in the last few seconds and has not expired; memory only. */
  peekBearer(token: string): Actor | undefined {
    const cached = this.recentTokens.get(sha256(token));
    // A number compare: formatting the time for the stored ISO string costs more than the rest of a hot read's lookup.
    if (!cached || cached.expiresAtMs <= this.nowMs()) return undefined;
    return cached.actor;
  }

  private cachedSession(idHash: string): Actor | undefined {
    const cached = this.recentSessions.get(idHash);
    return cached && cached.endsAt > this.nowMs() ? cached.actor : undefined;
  }

  async signOut(sessionToken: string): Promise<void> {
    await this.credentials.deleteSession(sha256(sessionToken));
    await this.credentialsEnded();
  }

  /**
   * Changing a password ends every session of that person. The one it was made from goes on under a
   * new id (returned), so an id someone else learned before the change opens nothing after it.
   */
  async changePassword(
    person: Person,
    currentPassword: string,
    newPassword: string,
    options: PasswordChange = {},
  ): Promise<{ sessionToken?: string; revokedTokens: number }> {
    const storedHash = await this.directory.findPasswordHash(person.id);
    const { verify } = await argon2();
    if (!storedHash || !(await verify(storedHash, currentPassword.slice(0, 1024)).catch(() => false))) {
      throw new InvalidInput('The current password is incorrect.');
    }
    if (currentPassword === newPassword) throw new InvalidInput('Choose a new password that differs from the current one.');
    await this.setPassword(person.id, newPassword);
    await this.credentials.deleteSessionsOf(person.id);
    await this.credentialsEnded();
    const sessionToken = options.sessionToken === undefined ? undefined : await this.startSession(person.id);
    let revokedTokens = 0;
    if (options.revokeTokens) {
      revokedTokens = await this.credentials.revokeTokensOf(person.id, this.now());
      await this.credentialsEnded();
      await this.options.audit?.record({
        actor: options.actor
          ? describeActor(options.actor)
          : { kind: person.role === 'admin' ? 'admin' : 'person', id: person.id, name: person.userPrincipalName },
        action: 'token.revoke',
        target: { id: person.id, name: person.userPrincipalName },
        detail: `all ${revokedTokens} tokens, with a password change`,
        ip: options.actor?.ip ?? null,
      });
    }
    return { ...(sessionToken && { sessionToken }), revokedTokens };
  }

  /** API tokens of the person that still work (the password page offers to revoke them). */
  countUsableApiTokens(person: Person): Promise<number> {
    return this.credentials.countUsableTokensOf(person.id, this.now());
  }

  async createApiToken(
    actor: Actor,
    owner: Person,
    name: string,
    options: ApiTokenOptions = {},
  ): Promise<{ id: string; token: string; expiresAt: string | null }> {
    if (!isAdmin(actor) && !(actor.kind === 'person' && actor.person.id === owner.id)) {
      throw new NotPermitted('Only an admin can create a token for someone else.');
    }
    const scope = options.scope ?? 'photos';
    if (scope === 'admin') {
      if (owner.role !== 'admin')
        throw new InvalidInput(`Only an admin's token can have the admin scope; ${shown(owner.userPrincipalName)} is not an admin.`);
      if (!isAdmin(actor)) throw new NotPermitted('Only an admin can create an admin-scoped token.');
    }
    const lifetime = options.expiresInMs === undefined ? DEFAULT_TOKEN_LIFETIME_MS : options.expiresInMs;
    if (lifetime !== null && !(Number.isFinite(lifetime) && lifetime > 0))
      throw new InvalidInput("A token's lifetime must be a positive duration.");
    // The label is printed by `tokens list` and the audit log: plain text only.
    if (hasControlCharacters(name)) throw new InvalidInput(`The token label "${shown(name)}" has control characters; use plain text.`);
    const label = name.trim().slice(0, 100) || 'API token';
    const token = TOKEN_PREFIX + this.randomBytes(32).toString('base64url');
    const id = randomUUID();
    const now = this.now();
    const expiresAt = lifetime === null ? null : new Date(now.getTime() + lifetime);
    await this.credentials.insertToken({ id, personId: owner.id, name: label, tokenHash: sha256(token), scope, expiresAt }, now);
    await this.options.audit?.record({
      actor: describeActor(actor),
      action: 'token.create',
      target: { id: owner.id, name: owner.userPrincipalName },
      detail: `token ${id} "${label}", scope ${scope}, ${expiresAt ? `expires ${expiresAt.toISOString()}` : 'never expires'}`,
      ip: actor.ip ?? null,
    });
    return { id, token, expiresAt: expiresAt?.toISOString() ?? null };
  }

  async authenticateBearer(token: string): Promise<Actor> {
    const tokenHash = sha256(token);
    const now = this.now();
    // A cached token is checked for expiry too: it may end within the seconds it is cached.
    const cached = this.recentTokens.get(tokenHash);
    if (cached) {
      assertNotExpired(cached.expiresAt, now);
      return cached.actor;
    }
    const row = token.startsWith(TOKEN_PREFIX) && token.length < 200 ? await this.credentials.findActiveTokenByHash(tokenHash) : undefined;
    const person = row && (await this.directory.findPerson(row.person_id));
    if (!row || !person?.enabled) throw new Unauthenticated('The access token is invalid, revoked or expired.');
    assertNotExpired(row.expires_at, now);
    if (!row.last_used_at || now.getTime() - Date.parse(row.last_used_at) > SESSION_TOUCH_INTERVAL_MS) {
      await this.credentials.markTokenUsed(row.id, now);
    }
    const actor: Actor = { kind: 'person', person, via: 'token', scope: row.scope };
    this.recentTokens.set(tokenHash, {
      actor,
      expiresAt: row.expires_at,
      expiresAtMs: row.expires_at === null ? Infinity : Date.parse(row.expires_at),
    });
    return actor;
  }

  /** Admins see every token; a person sees their own. */
  listApiTokens(actor: Actor): Promise<ApiTokenInfo[]> {
    return this.credentials.listTokens(isAdmin(actor) ? undefined : (actor as { person: Person }).person.id);
  }

  async revokeApiToken(actor: Actor, tokenId: string): Promise<void> {
    const token = await this.credentials.findToken(tokenId);
    if (!token) throw new NotFound(`There is no API token with the id ${tokenId}.`);
    if (!isAdmin(actor) && !(actor.kind === 'person' && actor.person.id === token.person_id)) {
      throw new NotPermitted("Only an admin can revoke someone else's token.");
    }
    await this.credentials.revokeToken(tokenId, this.now());
    await this.credentialsEnded();
    const owner = await this.directory.findPerson(token.person_id);
    await this.options.audit?.record({
      actor: describeActor(actor),
      action: 'token.revoke',
      target: owner ? { id: owner.id, name: owner.userPrincipalName } : null,
      detail: `token ${tokenId} "${token.name}"`,
      ip: actor.ip ?? null,
    });
  }

  /** Forgets the cached tokens and sessions here and tells the other processes to. */
  private async credentialsEnded(): Promise<void> {
    this.forgetCachedCredentials();
    await this.options.onCredentialsEnded?.();
  }

  /** The key that binds CSRF tokens to sessions, the same in every process of the installation. */
  csrfKey(): Promise<string> {
    return this.credentials.csrfKey(this.randomBytes(32).toString('base64url'), this.now());
  }

  /**
   * Ends the person's access at once: every session is deleted and every token revoked in the
   * database, and the cached ones are forgotten here and in the other processes.
   */
  async endAccessOf(personId: string): Promise<{ sessions: number; tokens: number }> {
    const sessions = await this.credentials.deleteSessionsOf(personId);
    const tokens = await this.credentials.revokeTokensOf(personId, this.now());
    await this.credentialsEnded();
    return { sessions, tokens };
  }

  /** Signs the person out everywhere (an admin set a new password for them); returns how many sessions ended. */
  async endSessionsOf(personId: string): Promise<number> {
    const sessions = await this.credentials.deleteSessionsOf(personId);
    await this.credentialsEnded();
    return sessions;
  }

  /** A random password for a person to sign in with once and then replace (24 characters). */
  newOneTimePassword(): string {
    return this.randomBytes(18).toString('base64url');
  }

  /** A token was revoked or a session ended in another process. */
  forgetCachedCredentials(): void {
    this.recentTokens.clear();
    this.recentSessions.clear();
  }

  async deleteExpiredSessions(): Promise<void> {
    await this.credentials.deleteExpiredSessions(this.now());
  }

  /** The idle timeout from the last request, never beyond the absolute lifetime from the sign-in. */
  private sessionExpiry(signedInAt: Date, lastSeen: Date): Date {
    const idleEnd = lastSeen.getTime() + this.options.sessionTtlHours * HOUR_MS;
    return new Date(Math.min(idleEnd, this.lifetimeEnd(signedInAt).getTime()));
  }

  private lifetimeEnd(signedInAt: Date): Date {
    return new Date(signedInAt.getTime() + this.options.sessionLifetimeHours * HOUR_MS);
  }

  private getDecoyHash(): Promise<string> {
    this.decoyHash ??= argon2().then(({ hash }) => hash(this.randomBytes(16).toString('hex'), { algorithm: ARGON2ID }));
    return this.decoyHash;
  }
}

export function assertStrongPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new InvalidInput(`A password needs at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  if (password.length > 1024) throw new InvalidInput('A password can have at most 1024 characters.');
}

function assertNotExpired(expiresAt: string | null, now: Date): void {
  if (expiresAt !== null && expiresAt <= now.toISOString()) {
    throw new Unauthenticated(`The access token expired at ${expiresAt}; ask for a new one (photosync tokens create).`);
  }
}

/** One-shot: no Hash object per call, which every hot read's credential lookup would otherwise pay for. */
function sha256(value: string): string {
  return hash('sha256', value, 'hex');
}
