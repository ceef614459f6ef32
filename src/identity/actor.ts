import type { Person } from '../directory/index.ts';

/**
 * Who is asking. People act through a browser session or an API token; the CLI (and imports and the
 * demo seed it runs) act as the operator of the machine, who can already read the database.
 */
export type Actor = (
  | { kind: 'person'; person: Person; via: 'token' }
  /** `sessionKey` identifies the sign-in (a hash, never the cookie), e.g. to throttle per session. */
  | { kind: 'person'; person: Person; via: 'session'; sessionKey: string }
  | { kind: 'operator'; name: 'cli' | 'seed' }
) & {
  /** Where a web or API request came from, for the audit log. */
  ip?: string;
};

export function isAdmin(actor: Actor): boolean {
  return actor.kind === 'operator' || actor.person.role === 'admin';
}

export function actorPersonId(actor: Actor): string | null {
  return actor.kind === 'person' ? actor.person.id : null;
}

export const CLI_ACTOR: Actor = { kind: 'operator', name: 'cli' };
