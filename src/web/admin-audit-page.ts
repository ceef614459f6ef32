import type { FastifyInstance } from 'fastify';
import { AUDIT_ACTIONS, type AuditAction, type AuditActorKind, type AuditLog } from '../audit/index.ts';
import { InvalidInput } from '../errors.ts';
import type { RequestAuthentication } from '../identity/index.ts';
import { formatTime, html } from './html.ts';
import { createPageRendering, PAGE } from './page-rendering.ts';
import { queryChoice } from './query-params.ts';

const ACTOR_KINDS: readonly AuditActorKind[] = ['person', 'admin', 'token', 'cli', 'seed', 'ldap', 'oidc', 'import', 'sync'];
const PAGE_SIZE = 100;

/** What happened, in words (the filter's values stay the stored names, which the CLI takes too). */
const ACTION_WORDS: Record<AuditAction, string> = {
  'photo.set': 'Added a photo',
  'photo.replace': 'Replaced a photo',
  'photo.remove': 'Removed a photo',
  'sites.sync': 'Sites took a new photo',
  'sync.mode': 'Changed the sync mode',
  'sync.force': 'Started a force sync',
  'import.run': 'Imported photos',
  'directory.sync': 'Synced people from the LDAP directory',
  'run.cancel': 'Cancelled a run',
  'token.create': 'Created an API token',
  'token.revoke': 'Revoked an API token',
  'directory.photo': 'The directory sent a photo Mail did not take',
  'directory.photo-policy': 'Changed a directory photo policy',
  signin: 'Signed in',
  'person.add': 'Added a person',
  'person.update': 'Changed a person\'s details',
  'person.role': 'Changed a person\'s role',
  'person.disable': 'Disabled a person',
  'person.enable': 'Enabled a person',
  'person.remove': 'Removed a person',
  'person.password': 'Set or reset a password',
  'people.settings': 'Changed the people settings',
};
const ACTOR_WORDS: Record<AuditActorKind, string> = {
  person: 'A person',
  admin: 'An admin',
  token: 'An API token',
  cli: 'The command line',
  seed: 'The demo data',
  ldap: 'The LDAP directory sync',
  oidc: 'OpenID Connect sign-in',
  import: 'An import',
  sync: 'The sync',
};

function actorWords(actor: { kind: AuditActorKind; name: string }): string {
  if (actor.kind === actor.name) return ACTOR_WORDS[actor.kind] ?? actor.kind;
  return actor.kind === 'person' || actor.kind === 'admin' ? actor.name : `${ACTOR_WORDS[actor.kind] ?? actor.kind}: ${actor.name}`;
}

function sinceFilter(value: unknown): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T00:00:00Z`) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw new InvalidInput('The "since" filter must be a date such as 2026-11-01.');
  return date;
}

/** The audit log for admins: newest first, filtered by action, kind of actor, person and date. */
export async function registerAdminAuditPage(app: FastifyInstance, options: { audit: AuditLog; auth: RequestAuthentication }): Promise<void> {
  const { audit, auth } = options;
  const { signedIn, page } = createPageRendering(auth);

  app.get<{ Querystring: Record<string, unknown> }>('/admin/audit', { config: PAGE, schema: { hide: true } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    audit.assertMayRead(actor);
    const q = request.query;
    const action = queryChoice<AuditAction>(q.action, AUDIT_ACTIONS, 'action');
    const actorKind = queryChoice<AuditActorKind>(q.actor, ACTOR_KINDS, 'actor');
    const person = typeof q.person === 'string' && q.person.trim() ? q.person.trim().slice(0, 200) : undefined;
    const since = sinceFilter(q.since);
    const before = q.before === undefined || q.before === '' ? undefined : Number(q.before);
    if (before !== undefined && !(Number.isInteger(before) && before > 0)) throw new InvalidInput('The page position must be a positive whole number.');
    const entries = await audit.list(actor, { limit: PAGE_SIZE + 1, ...(action && { action }), ...(actorKind && { actorKind }), ...(person && { person }), ...(since && { since }), ...(before && { before }) });
    const shown = entries.slice(0, PAGE_SIZE);
    const filters = { action, actor: actorKind, person, since: typeof q.since === 'string' ? q.since : undefined };
    const nextLink = new URLSearchParams(Object.entries({ ...filters, before: String(shown.at(-1)?.seq ?? '') }).filter((e): e is [string, string] => !!e[1]));
    return page(
      reply,
      actor,
      'Audit log',
      html`<h1>Audit log</h1>
        <form method="get" action="/admin/audit" class="search card" role="search">
          <label for="action">Action</label>
          <select id="action" name="action"><option value="">Any</option>${AUDIT_ACTIONS.map((a) => html`<option value="${a}" ${a === action ? 'selected' : ''}>${ACTION_WORDS[a]}</option>`)}</select>
          <label for="actor">Who</label>
          <select id="actor" name="actor"><option value="">Anyone</option>${ACTOR_KINDS.map((k) => html`<option value="${k}" ${k === actorKind ? 'selected' : ''}>${ACTOR_WORDS[k]}</option>`)}</select>
          <label for="person">Person (part of a user principal name)</label>
          <input id="person" name="person" type="text" value="${person ?? ''}">
          <label for="since">Since</label>
          <input id="since" name="since" type="date" value="${filters.since ?? ''}">
          <div class="actions"><button type="submit" class="secondary">Filter</button></div>
        </form>
        <table class="status stack">
          <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Whose</th><th scope="col">Details</th><th scope="col">From</th></tr></thead>
          <tbody>${shown.map(
            (e) => html`<tr><td data-label="When">${formatTime(e.at)}</td><td data-label="Who">${actorWords(e.actor)}</td><td data-label="What">${ACTION_WORDS[e.action] ?? e.action}</td><td data-label="Whose">${e.target?.name ?? '-'}</td><td data-label="Details">${e.detail ?? ''}</td><td data-label="From">${e.ip ?? '-'}</td></tr>`,
          )}</tbody>
        </table>
        ${shown.length === 0 ? html`<p>No entries match.</p>` : ''}
        <nav class="actions" aria-label="Pages">${entries.length > PAGE_SIZE ? html`<a href="/admin/audit?${nextLink.toString()}" rel="next">Older entries</a>` : ''}</nav>`,
    );
  });
}
