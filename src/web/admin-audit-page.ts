import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AUDIT_ACTIONS, type AuditAction, type AuditActorKind, type AuditLog } from '../audit/index.ts';
import { FilterChoice, PlainText } from '../http/index.ts';
import type { RequestAuthentication } from '../identity/index.ts';
import { formatTime, html } from './html.ts';
import { createPageRendering, PAGE } from './page-rendering.ts';

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
  'person.update': "Changed a person's details",
  'person.role': "Changed a person's role",
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

const AuditQuery = Type.Object({
  action: FilterChoice(AUDIT_ACTIONS, 'action filter'),
  actor: FilterChoice(ACTOR_KINDS, 'actor filter'),
  person: Type.Optional(PlainText({ title: 'person filter', maxLength: 200 })),
  // The date input sends an empty value when no date is chosen.
  since: Type.Optional(
    Type.Union([Type.Literal(''), Type.String({ format: 'date' })], {
      errorMessage: 'The "since" filter must be a date such as 2026-11-01.',
    }),
  ),
  before: Type.Optional(Type.Integer({ minimum: 1, errorMessage: 'The page position must be a positive whole number.' })),
});

/** The audit log for admins: newest first, filtered by action, kind of actor, person and date. */
export const registerAdminAuditPage: FastifyPluginAsyncTypebox<{ audit: AuditLog; auth: RequestAuthentication }> = async (app, options) => {
  const { audit, auth } = options;
  const { signedIn, page } = createPageRendering(auth);

  app.get('/admin/audit', { config: PAGE, schema: { hide: true, querystring: AuditQuery } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    audit.assertMayRead(actor);
    const q = request.query;
    const action = q.action || undefined;
    const actorKind = q.actor || undefined;
    const person = q.person?.trim() || undefined;
    const since = q.since ? new Date(`${q.since}T00:00:00Z`) : undefined;
    const before = q.before;
    const entries = await audit.list(actor, {
      limit: PAGE_SIZE + 1,
      ...(action && { action }),
      ...(actorKind && { actorKind }),
      ...(person && { person }),
      ...(since && { since }),
      ...(before && { before }),
    });
    const shown = entries.slice(0, PAGE_SIZE);
    const filters = { action, actor: actorKind, person, since: q.since || undefined };
    const nextLink = new URLSearchParams(
      Object.entries({ ...filters, before: String(shown.at(-1)?.seq ?? '') }).filter((e): e is [string, string] => !!e[1]),
    );
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
            (e) =>
              html`<tr><td data-label="When">${formatTime(e.at)}</td><td data-label="Who">${actorWords(e.actor)}</td><td data-label="What">${ACTION_WORDS[e.action] ?? e.action}</td><td data-label="Whose">${e.target?.name ?? '-'}</td><td data-label="Details">${e.detail ?? ''}</td><td data-label="From">${e.ip ?? '-'}</td></tr>`,
          )}</tbody>
        </table>
        ${shown.length === 0 ? html`<p>No entries match.</p>` : ''}
        <nav class="actions" aria-label="Pages">${entries.length > PAGE_SIZE ? html`<a href="/admin/audit?${nextLink.toString()}" rel="next">Older entries</a>` : ''}</nav>`,
    );
  });
};
