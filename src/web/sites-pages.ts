import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { DirectoryService, Person } from '../directory/index.ts';
import { NotFound } from '../errors.ts';
import type { RequestAuthentication } from '../identity/index.ts';
import type { SiteThumbnailSize } from '../imaging/index.ts';
import type { SitesService } from '../sites/index.ts';
import type { SyncEngine, SyncMode, UserInitiatedTrigger } from '../sync/index.ts';
import { formatTime, html, type SafeHtml } from './html.ts';
import { sitesPhotoUrl } from './layout.ts';
import { describeState, outcomeWords, triggerWords } from './sync-words.ts';
import { createPageRendering, PAGE, type PersonActor } from './page-rendering.ts';

export interface SitesPagesOptions {
  directory: DirectoryService;
  sites: SitesService;
  sync: SyncEngine;
  trigger: UserInitiatedTrigger;
  auth: RequestAuthentication;
  /** The admin's sync mode, which the info page states. */
  syncMode: () => Promise<SyncMode>;
}

const PEOPLE_PER_PAGE = 48;
const PeopleQuery = Type.Object({ page: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, title: 'page number' })) });
const ProfileParams = Type.Object({ upn: Type.String({ maxLength: 256, title: 'user principal name' }) });
const PIXELS: Record<SiteThumbnailSize, number> = { S: 48, M: 72, L: 160 };

/**
 * A Sites photo as the browser loads it: through userphoto.aspx, which is where the sync hooks in.
 * Someone else's names the version Sites holds, so the browser keeps it until a new one is synced;
 * the viewer's own goes without, so each view asks (and may sync).
 */
function sitesPhoto(person: Person, size: SiteThumbnailSize, alt: string, syncedEtag: string | null = null): SafeHtml {
  const src = sitesPhotoUrl(person, size, syncedEtag);
  return html`<img class="photo" src="${src}" width="${PIXELS[size]}" height="${PIXELS[size]}" alt="${alt}">`;
}

/** Files, Sites (with the people directory and profiles) and the page that explains photo sync. */
export const registerSitesPages: FastifyPluginAsyncTypebox<SitesPagesOptions> = async (app, options) => {
  const { directory, sites, sync, trigger, auth } = options;
  const { signedIn, page } = createPageRendering(auth);

  /**
   * These pages show the person's own L photo, so they make the same check its request would, before
   * the HTML goes out: then every size of their photo on the page (the L header and the M in the
   * people list) comes from the synced copy, instead of racing the L request.
   */
  const showsOwnPhoto = (actor: PersonActor) => trigger.onSitesPhotoRequested(actor, actor.person, 'L');

  app.get('/files', { config: PAGE, schema: { hide: true } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    await showsOwnPhoto(actor);
    const me = actor.person;
    return page(
      reply,
      actor,
      'Files',
      html`<header class="card photo-row">
          ${sitesPhoto(me, 'L', `${me.displayName}'s photo in Sites`)}
          <div><h1>${me.displayName}'s files</h1><p class="hint">${me.userPrincipalName}</p></div>
        </header>
        <section class="card" aria-labelledby="files-heading">
          <h2 id="files-heading">Recent files</h2>
          <p>No files yet. The photo above is the one Sites shows for you everywhere.</p>
        </section>
        <p><a href="/about/photo-sync">About profile photo sync</a></p>`,
    );
  });

  app.get('/sites', { config: PAGE, schema: { hide: true, querystring: PeopleQuery } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    await showsOwnPhoto(actor);
    const me = actor.person;
    const pageNumber = request.query.page ?? 1;
    const people = await directory.listPeople({ limit: PEOPLE_PER_PAGE + 1, offset: (pageNumber - 1) * PEOPLE_PER_PAGE });
    const hasNext = people.length > PEOPLE_PER_PAGE;
    const syncedEtags = await sites.syncedEtagsOf(people.filter((person) => person.id !== me.id));
    return page(
      reply,
      actor,
      'Sites',
      html`<h1>Sites</h1>
        <section class="card photo-row" aria-label="You">
          ${sitesPhoto(me, 'L', `${me.displayName}'s photo in Sites`)}
          <div><h2>${me.displayName}</h2><p><a href="/sites/people/${encodeURIComponent(me.userPrincipalName)}">Your profile</a></p></div>
        </section>
        <section aria-labelledby="people-heading">
          <h2 id="people-heading">People</h2>
          <ul class="people">
            ${people.slice(0, PEOPLE_PER_PAGE).map(
              (person) => html`<li><a href="/sites/people/${encodeURIComponent(person.userPrincipalName)}">
                  ${sitesPhoto(person, 'M', `${person.displayName}'s photo`, syncedEtags.get(person.id) ?? null)}<span>${person.displayName}</span></a></li>`,
            )}
          </ul>
          <nav class="actions" aria-label="Pages">
            ${pageNumber > 1 ? html`<a href="/sites?page=${pageNumber - 1}">Previous page</a>` : ''}
            ${hasNext ? html`<a href="/sites?page=${pageNumber + 1}">Next page</a>` : ''}
          </nav>
        </section>`,
    );
  });

  app.get('/sites/people/:upn', { config: PAGE, schema: { hide: true, params: ProfileParams } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    const person = await directory.findPerson(request.params.upn);
    if (!person) throw new NotFound(`There is no person called ${request.params.upn}.`);
    const own = person.id === actor.person.id;
    if (own) await showsOwnPhoto(actor);
    const [properties, state] = await Promise.all([sites.getProperties(person), sync.getSyncState(person)]);
    return page(
      reply,
      actor,
      person.displayName,
      html`<section class="card photo-row">
          ${sitesPhoto(person, 'L', `${person.displayName}'s photo in Sites`, own || !person.enabled ? null : state.syncedEtag)}
          <div>
            <h1>${person.displayName}</h1>
            <p>${person.mail ? html`<a href="mailto:${person.mail}">${person.mail}</a>` : person.userPrincipalName}</p>
            ${
              own
                ? html`<p class="state state-${state.state}">${describeState(state, 'yours')}</p>
                  <p class="actions"><a class="button" href="/mail/photo">Change your photo in Mail</a><a href="/about/photo-sync">About profile photo sync</a></p>`
                : !person.enabled
                  ? html`<p class="hint">This account is disabled: their initials show instead of a photo.</p>`
                  : html`<p class="hint">${state.syncedEtag ? html`Photo from Mail, copied to Sites ${formatTime(state.lastSyncedAt)}.` : 'No photo in Sites yet: their initials show instead.'}</p>`
            }
          </div>
        </section>
        <section class="card" aria-labelledby="about-heading">
          <h2 id="about-heading">Contact</h2>
          <dl>
            <dt>Name</dt><dd>${person.displayName}</dd>
            <dt>Mail</dt><dd>${person.mail ?? '-'}</dd>
            <dt>Account</dt><dd>${person.userPrincipalName}</dd>
          </dl>
          <details class="disclosure">
            <summary>Technical details</summary>
            <p class="hint">The SharePoint profile properties that apps read through the PeopleManager API.</p>
            <table class="stack"><thead><tr><th scope="col">Property</th><th scope="col">Value</th></tr></thead>
            <tbody>${properties.map((p) => html`<tr><th scope="row" data-label="Property">${p.key}</th><td data-label="Value">${p.value === '' ? html`<span class="hint">(empty)</span>` : p.value}</td></tr>`)}</tbody></table>
          </details>
        </section>
        <p><a href="/sites">Everyone in Sites</a></p>`,
    );
  });

  app.get('/about/photo-sync', { config: PAGE, schema: { hide: true } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    const me = actor.person;
    const [state, history, mode] = await Promise.all([sync.getSyncState(me), sync.getSyncHistory(me, 5), options.syncMode()]);
    return page(
      reply,
      actor,
      'About profile photo sync',
      html`<h1>About profile photo sync</h1>
        <section class="card" aria-labelledby="rules-heading">
          <h2 id="rules-heading">How your photo gets around</h2>
          <ol>
            <li><strong>Mail holds your photo.</strong> You add, change or remove it on <a href="/mail/photo">Add your profile photo</a>; an admin can do it for you.</li>
            <li><strong>Sites keeps its own copy</strong> in three sizes (small 48×48, medium 72×72, large up to 300 pixels). Until it has one, it shows your initials on a colour.</li>
            <li><strong>Sites copies only from Mail</strong>, never from the directory's photo, even when Mail has none.</li>
            <li><strong>The copy happens when you act:</strong> sign in and open the <a href="/files">Files</a> or <a href="/sites">Sites</a> tile (or your own profile). A fresh sign-in always checks; within one sign-in it checks again at most every so often.</li>
            ${
              mode === 'user-initiated'
                ? ''
                : html`<li><strong>Here, your admin has turned on ${mode === 'on-change' ? 'sync on change: every change of your Mail photo reaches Sites within seconds' : 'scheduled sync: out-of-date copies are refreshed on a schedule'}</strong>, on top of the rule above.</li>`
            }
            <li><strong>Other people see the last copy</strong> Sites took; looking at you never makes Sites copy your photo.</li>
            <li>A copy takes the whole photo at once: small, medium and large always come from the same version. If copying fails, Sites keeps the previous copy.</li>
          </ol>
        </section>
        <section class="card" aria-labelledby="state-heading">
          <h2 id="state-heading">Your photo now</h2>
          <div class="photo-row">
            ${sitesPhoto(me, 'M', 'Your photo in Sites')}
            <div>
              <p role="status" class="state state-${state.state}">${describeState(state, 'yours')}</p>
              ${state.reason ? html`<p>Reason: ${state.reason}</p>` : ''}
              <dl>
                <dt>Last checked</dt><dd>${formatTime(state.lastCheckedAt)}</dd>
                <dt>Last synced</dt><dd>${formatTime(state.lastSyncedAt)}</dd>
              </dl>
            </div>
          </div>
          ${
            history.length
              ? html`<h3>Recent checks</h3>
                <table class="stack"><thead><tr><th scope="col">When</th><th scope="col">Why</th><th scope="col">Result</th><th scope="col">Time taken</th></tr></thead>
                <tbody>${history.map((run) => html`<tr><td data-label="When">${formatTime(run.startedAt)}</td><td data-label="Why">${triggerWords(run.trigger)}</td><td data-label="Result"><div>${outcomeWords(run.outcome)}${run.error ? html` — ${run.error}` : ''}</div></td><td data-label="Time taken">${run.durationMs} ms</td></tr>`)}</tbody></table>`
              : ''
          }
        </section>`,
    );
  });
};
