import type { Person } from './directory/index.ts';

// Who is asking, and the rules every service applies to it. Beside errors.ts rather than in identity/
// (which re-exports it): the audit log, which identity writes to, checks its readers with it too.

/** What an API token may do: `photos` reads and writes photos as its person; `admin` also administers. */
export const TOKEN_SCOPES = ['photos', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/**
 * Who is asking. People act through a browser session or an API token; the CLI (and imports and the
 * demo seed it runs) act as the operator of the machine, who can already read the database.
 */
export type Actor = (
  | { kind: 'person'; person: Person; via: 'token'; scope: TokenScope }
  /** `sessionKey` identifies the sign-in (a hash, never the cookie), e.g. to throttle per session. */
  | { kind: 'person'; person: Person; via: 'session'; sessionKey: string }
  | { kind: 'operator'; name: 'cli' | 'seed' | 'ldap' | 'oidc' }
) & {
  /** Where a web or API request came from, for the audit log. */
  ip?: string;
};

/** A person acting for themself, through a session or a token. */
export type PersonActor = Extract<Actor, { kind: 'person' }>;

/**
 * May administer (sync settings and runs, imports, the audit log, everyone's tokens): the operator,
 * an admin in a browser session, or an admin's token made with the `admin` scope.
 */
export function isAdmin(actor: Actor): boolean {
  if (actor.kind === 'operator') return true;
  if (actor.person.role !== 'admin') return false;
  return actor.via === 'session' || actor.scope === 'admin';
}

/**
 * Holds the admin role, whatever the credential's scope: the rights an admin has over photos
 * (Set-UserPhoto) go with any of their credentials, since a `photos` token acts as its person.
 */
export function hasAdminRole(actor: Actor): boolean {
  return actor.kind === 'operator' || actor.person.role === 'admin';
}

export function actorPersonId(actor: Actor): string | null {
  return actor.kind === 'person' ? actor.person.id : null;
}

export const CLI_ACTOR: Actor = { kind: 'operator', name: 'cli' };
