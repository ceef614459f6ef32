
/** Who acted: a person for themself, an admin, an API token, the CLI, a bulk import, the sync, or a directory (LDAP, OIDC). */
export type AuditActorKind = 'person' | 'admin' | 'token' | 'cli' | 'seed' | 'ldap' | 'oidc' | 'import' | 'sync';

export type AuditAction =
  | 'photo.set'
  | 'photo.replace'
  | 'photo.remove'
  | 'sites.sync'
  | 'sync.mode'
  | 'sync.force'
  | 'import.run'
  | 'directory.sync'
  | 'run.cancel'
  | 'token.create'
  | 'token.revoke'
  | 'person.add'
  | 'person.update'
  | 'person.role'
  | 'person.disable'
  | 'person.enable'
  | 'person.remove'
  | 'person.password'
  | 'people.settings'
  | 'directory.photo'
  | 'directory.photo-policy'
  | 'signin';

export const AUDIT_ACTIONS: readonly AuditAction[] = [
  'photo.set',
  'photo.replace',
  'photo.remove',
  'sites.sync',
  'sync.mode',
  'sync.force',
  'import.run',
  'directory.sync',
  'run.cancel',
  'token.create',
  'token.revoke',
  'directory.photo',
  'directory.photo-policy',
  'signin',
  'person.add',
  'person.update',
  'person.role',
  'person.disable',
  'person.enable',
  'person.remove',
  'person.password',
  'people.settings',
];

export interface AuditActor {
  kind: AuditActorKind;
  /** The person behind it, when there is one (an admin importing, a token's owner). */
  id: string | null;
  name: string;
}

export interface NewAuditEntry {
  actor: AuditActor;
  action: AuditAction;
  target?: { id: string; name: string } | null;
  detail?: string | null;
  /** Where a web or API request came from. */
  ip?: string | null;
}

export interface AuditEntry extends Required<NewAuditEntry> {
  seq: number;
  at: string;
}

/**
 * Who acted, as the audit reads it: the shape of identity's `Actor`, stated here because the audit
 * log sits below identity (which writes to it) and so does not import it.
 */
export type ActingParty =
  | { kind: 'operator'; name: AuditActorKind }
  | { kind: 'person'; via: 'session' | 'token'; person: { id: string; userPrincipalName: string; role: string } };

/** The audit's view of an actor; `via` names the bulk path (an import) that acted on their behalf. */
export function describeActor(actor: ActingParty, via?: 'import'): AuditActor {
  if (actor.kind === 'operator') return { kind: via ?? actor.name, id: null, name: actor.name };
  const person = { id: actor.person.id, name: actor.person.userPrincipalName };
  if (via) return { kind: via, ...person };
  if (actor.via === 'token') return { kind: 'token', ...person };
  return { kind: actor.person.role === 'admin' ? 'admin' : 'person', ...person };
}

/** The sync engine acting on its own (on change, on schedule) or for whoever triggered it. */
export const SYNC_AUDIT_ACTOR: AuditActor = { kind: 'sync', id: null, name: 'sync' };
