import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { DirectoryService } from '../directory/index.ts';
import type { RequestAuthentication } from '../identity/index.ts';
import { CsrfToken, FilterChoice, Flash, PlainText } from '../http/index.ts';
import { MAX_INTERVAL_MINUTES, SYNC_MODES, SYNC_STATE_KINDS, type SyncAdministration, type SyncMode } from '../sync/index.ts';
import { formatTime, html } from './html.ts';
import { sitesPhotoUrl } from './layout.ts';
import { describeState, outcomeWords, STATE_LABELS, triggerWords } from './sync-words.ts';
import { createPageRendering, csrfToken, PAGE, refuseBeforeBody } from './page-rendering.ts';

export interface AdminSyncPagesOptions {
  directory: DirectoryService;
  syncAdmin: SyncAdministration;
  auth: RequestAuthentication;
}

const PAGE_SIZE = 50;
const SYNC_OUTCOMES = ['unchanged', 'synced', 'placeholder', 'failed'] as const;

const StatusQuery = Type.Object({
  q: Type.Optional(PlainText({ title: 'search', maxLength: 200 })),
  state: FilterChoice(SYNC_STATE_KINDS, 'state filter'),
  after: Type.Optional(PlainText({ title: 'page position', maxLength: 300 })),
  done: Flash,
});
const SettingsForm = Type.Object({
  _csrf: CsrfToken,
  mode: Type.Enum(SYNC_MODES, { title: 'sync mode' }),
  intervalMinutes: Type.Integer({
    minimum: 1,
    maximum: MAX_INTERVAL_MINUTES,
    errorMessage: `The schedule interval must be a whole number of minutes from 1 to ${MAX_INTERVAL_MINUTES}.`,
  }),
});
const RunForm = Type.Object({
  _csrf: CsrfToken,
  scope: Type.Enum(['all', 'stale'], { errorMessage: 'Choose whom to sync: everyone or the out-of-date.' }),
});
const EmptyForm = Type.Object({ _csrf: CsrfToken });
const PersonParams = Type.Object({ upn: Type.String({ description: "The person's user principal name" }) });
const PersonQuery = Type.Object({ done: Type.Optional(Type.Enum(SYNC_OUTCOMES, { title: 'sync result' })) });

const MODE_LABELS: Record<SyncMode, string> = {
  'user-initiated': "User-initiated (like Microsoft 365): a person's own visit to Files or Sites syncs them",
  'on-change': 'On change: every Mail photo change syncs Sites at once',
  scheduled: 'Scheduled: the out-of-date people are synced every interval',
};
const FLASH: Record<string, string> = { settings: 'The sync settings are saved.' };

/** The admin's "Sync status" page, a person's sync history, the mode setting and forced syncs. */
export const registerAdminSyncPages: FastifyPluginAsyncTypebox<AdminSyncPagesOptions> = async (app, options) => {
  const { directory, syncAdmin, auth } = options;
  const { signedIn, page } = createPageRendering(auth);

  app.get('/admin/sync', { config: PAGE, schema: { hide: true, querystring: StatusQuery } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    const search = request.query.q?.trim() || undefined;
    const state = request.query.state || undefined;
    const after = request.query.after?.trim().toLowerCase() || undefined;
    const [settings, counts, rows] = await Promise.all([
      syncAdmin.getSettings(actor),
      syncAdmin.countByState(actor),
      syncAdmin.listStatus(actor, { ...(search && { search }), ...(state && { state }), ...(after && { after }), limit: PAGE_SIZE + 1 }),
    ]);
    const more = rows.length > PAGE_SIZE;
    const shown = rows.slice(0, PAGE_SIZE);
    const total = SYNC_STATE_KINDS.reduce((sum, kind) => sum + counts[kind], 0);
    const link = (params: Record<string, string | undefined>) => {
      const query = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
      return `/admin/sync${query.size ? `?${query}` : ''}`;
    };
    const token = csrfToken(reply);
    const done = request.query.done && Object.hasOwn(FLASH, request.query.done) ? FLASH[request.query.done] : undefined;
    const runs = (await syncAdmin.listRuns(actor, 'sync')).slice(0, 5);
    return page(
      reply,
      actor,
      'Sync status',
      html`<h1>Sync status</h1>
        ${done ? html`<p class="notice" role="status">${done}</p>` : ''}
        <ul class="counts" aria-label="People per sync state">
          <li><a href="${link({ q: search })}" ${state ? '' : html`aria-current="true"`}><strong>${total}</strong> Everyone</a></li>
          ${SYNC_STATE_KINDS.map(
            (kind) =>
              html`<li><a class="state-${kind}" href="${link({ q: search, state: kind })}" ${state === kind ? html`aria-current="true"` : ''}><strong>${counts[kind]}</strong> ${STATE_LABELS[kind]}</a></li>`,
          )}
        </ul>
        <div class="photo-row">
          <form method="post" action="/admin/sync/settings" class="card">
            <input type="hidden" name="_csrf" value="${token}">
            <fieldset><legend>Sync mode</legend>
              ${SYNC_MODES.map(
                (mode) =>
                  html`<label class="choice"><input type="radio" name="mode" value="${mode}" ${settings.mode === mode ? 'checked' : ''}> ${MODE_LABELS[mode]}</label>`,
              )}
            </fieldset>
            <label for="interval">Interval for the scheduled mode (minutes)</label>
            <input id="interval" name="intervalMinutes" type="number" min="1" max="10080" value="${settings.intervalMinutes}" required>
            <div class="actions"><button type="submit">Save settings</button></div>
          </form>
          <div class="card">
            <h2>Force a sync</h2>
            <p class="hint">Copies Mail's photo to Sites now, for everyone or only for the people whose copy is out of date or never checked. Progress shows live; you can cancel.</p>
            <form method="post" action="/admin/sync/runs" class="actions">
              <input type="hidden" name="_csrf" value="${token}">
              <button type="submit" name="scope" value="stale">Sync the out-of-date</button>
              <button type="submit" name="scope" value="all" class="secondary">Sync everyone</button>
            </form>
            ${
              runs.length
                ? html`<h3>Recent runs</h3><ul>${runs.map((p) => html`<li><a href="/admin/runs/${p.id}">${p.label}</a>: ${p.done}/${p.total}, ${p.failed} failed (${p.status})</li>`)}</ul>`
                : ''
            }
          </div>
        </div>
        <form method="get" action="/admin/sync" class="search" role="search">
          <label for="q">Search by name or user principal name</label>
          <input id="q" name="q" type="text" value="${search ?? ''}">
          <label for="state">State</label>
          <select id="state" name="state">
            <option value="">Any</option>
            ${SYNC_STATE_KINDS.map((kind) => html`<option value="${kind}" ${state === kind ? 'selected' : ''}>${STATE_LABELS[kind]}</option>`)}
          </select>
          <div class="actions"><button type="submit" class="secondary">Search</button></div>
        </form>
        <table class="status stack">
          <thead><tr><th scope="col">Person</th><th scope="col">State</th><th scope="col">Last checked</th><th scope="col">Last synced</th><th scope="col">Last trigger</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
          <tbody>
            ${shown.map(
              (row) => html`<tr>
                <td data-label="Person"><div><a href="/admin/sync/people/${encodeURIComponent(row.userPrincipalName)}">${row.displayName}</a><br><span class="hint">${row.userPrincipalName}</span></div></td>
                <td data-label="State" class="state state-${row.state}"><div>${STATE_LABELS[row.state]}${row.reason ? html`<br><span class="hint">${row.reason}</span>` : ''}</div></td>
                <td data-label="Last checked">${formatTime(row.lastCheckedAt)}</td>
                <td data-label="Last synced">${formatTime(row.lastSyncedAt)}</td>
                <td data-label="Last trigger">${triggerWords(row.lastTrigger)}</td>
                <td data-label=""><form method="post" action="/admin/sync/people/${encodeURIComponent(row.userPrincipalName)}" class="inline">
                  <input type="hidden" name="_csrf" value="${token}">
                  <button type="submit" class="secondary" aria-label="Sync ${row.displayName} now">Sync</button>
                </form></td>
              </tr>`,
            )}
          </tbody>
        </table>
        ${shown.length === 0 ? html`<p>Nobody matches.</p>` : ''}
        <nav class="actions" aria-label="Pages">
          ${after ? html`<a href="${link({ q: search, state })}">First page</a>` : ''}
          ${more ? html`<a href="${link({ q: search, state, after: shown.at(-1)!.userPrincipalName.toLowerCase() })}" rel="next">Next page</a>` : ''}
        </nav>`,
    );
  });

  // Who may send these forms (and whom they name) is settled before their bodies are read.
  const adminFirst = refuseBeforeBody(signedIn, (actor) => syncAdmin.assertMayAdminister(actor));
  const adminAndPersonFirst = refuseBeforeBody(signedIn, async (actor, request) => {
    syncAdmin.assertMayAdminister(actor);
    await directory.getPerson((request.params as { upn: string }).upn);
  });

  app.post(
    '/admin/sync/settings',
    { config: PAGE, onRequest: adminFirst, preValidation: app.csrfProtection, schema: { hide: true, body: SettingsForm } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      await syncAdmin.changeSettings(actor, { mode: request.body.mode, intervalMinutes: request.body.intervalMinutes });
      return reply.redirect('/admin/sync?done=settings', 303);
    },
  );

  app.post(
    '/admin/sync/runs',
    { config: PAGE, onRequest: adminFirst, preValidation: app.csrfProtection, schema: { hide: true, body: RunForm } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      const runId = await syncAdmin.startSyncAll(actor, { staleOnly: request.body.scope === 'stale' });
      return reply.redirect(`/admin/runs/${runId}`, 303);
    },
  );

  app.get(
    '/admin/sync/people/:upn',
    { config: PAGE, schema: { hide: true, params: PersonParams, querystring: PersonQuery } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      const person = await directory.getPerson(request.params.upn);
      const { state, history } = await syncAdmin.personStatus(actor, person);
      const outcome = request.query.done;
      return page(
        reply,
        actor,
        `Sync of ${person.displayName}`,
        html`<h1>Sync of ${person.displayName}</h1>
        ${outcome ? html`<p class="${outcome === 'failed' ? 'alert' : 'notice'}" role="status">Sync finished: ${outcomeWords(outcome).toLowerCase()}.</p>` : ''}
        <section class="card" aria-labelledby="photos-heading">
          <h2 id="photos-heading">Mail and Sites</h2>
          <div class="side-by-side">
            <figure>
              ${
                state.mailEtag
                  ? html`<img class="photo" src="/v1.0/users/${encodeURIComponent(person.userPrincipalName)}/photo/$value?v=${state.mailEtag}" width="160" height="160" alt="${person.displayName}'s photo in Mail">`
                  : html`<span class="initials initials-small" role="img" aria-label="No photo in Mail">–</span>`
              }
              <figcaption>Mail${state.mailEtag ? '' : ': no photo'}</figcaption>
            </figure>
            <figure>
              <img class="photo" src="${sitesPhotoUrl(person, 'L', state.syncedEtag)}" width="160" height="160" alt="${person.displayName}'s photo in Sites">
              <figcaption>Sites${state.syncedEtag ? '' : ': initials'}</figcaption>
            </figure>
          </div>
          <p class="state state-${state.state}">${describeState(state, 'theirs')}</p>
          ${state.reason ? html`<p>Reason: ${state.reason}</p>` : ''}
          <dl>
            <dt>User principal name</dt><dd>${person.userPrincipalName}</dd>
            <dt>Last checked</dt><dd>${formatTime(state.lastCheckedAt)}</dd>
            <dt>Last synced</dt><dd>${formatTime(state.lastSyncedAt)}</dd>
            <dt>Last trigger</dt><dd>${triggerWords(state.lastTrigger)}</dd>
          </dl>
          <details class="disclosure">
            <summary>Technical details</summary>
            <dl>
              <dt>Mail ETag</dt><dd><code>${state.mailEtag ?? '(no photo)'}</code></dd>
              <dt>Synced ETag</dt><dd><code>${state.syncedEtag ?? '(initials)'}</code></dd>
            </dl>
          </details>
          <form method="post" action="/admin/sync/people/${encodeURIComponent(person.userPrincipalName)}" class="actions">
            <input type="hidden" name="_csrf" value="${csrfToken(reply)}">
            <button type="submit">Sync now</button>
          </form>
        </section>
        <h2>History</h2>
        ${
          history.length
            ? html`<table class="stack"><thead><tr><th scope="col">When</th><th scope="col">Why</th><th scope="col">Result</th><th scope="col">Time taken</th></tr></thead>
              <tbody>${history.map((run) => html`<tr><td data-label="When">${formatTime(run.startedAt)}</td><td data-label="Why">${triggerWords(run.trigger)}</td><td data-label="Result"><div>${outcomeWords(run.outcome)}${run.error ? html` — ${run.error}` : ''}</div></td><td data-label="Time taken">${run.durationMs} ms</td></tr>`)}</tbody></table>`
            : html`<p>No sync has run for ${person.displayName} yet.</p>`
        }
        <p><a href="/admin/sync">All people's sync status</a></p>`,
      );
    },
  );

  app.post(
    '/admin/sync/people/:upn',
    {
      config: PAGE,
      onRequest: adminAndPersonFirst,
      preValidation: app.csrfProtection,
      schema: { hide: true, params: PersonParams, body: EmptyForm },
    },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      const person = await directory.getPerson(request.params.upn);
      const result = await syncAdmin.syncPerson(actor, person);
      return reply.redirect(`/admin/sync/people/${encodeURIComponent(person.userPrincipalName)}?done=${result.outcome}`, 303);
    },
  );
};
