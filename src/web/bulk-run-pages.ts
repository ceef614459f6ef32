import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { BulkProgress } from '../runs/index.ts';
import { NotFound } from '../errors.ts';
import { CsrfToken } from '../http/index.ts';
import type { Actor, RequestAuthentication } from '../identity/index.ts';
import type { SyncAdministration } from '../sync/index.ts';
import { formatTime, html, type SafeHtml } from './html.ts';
import { createPageRendering, csrfToken, PAGE, refuseBeforeBody } from './page-rendering.ts';

export interface BulkRunPagesOptions {
  syncAdmin: SyncAdministration;
  auth: RequestAuthentication;
  /** Extra content for a run that is over (the import's report). */
  finishedRunDetails?: (actor: Actor, run: BulkProgress) => Promise<SafeHtml | undefined>;
}

/** How often a page watching a run hears about it (read from the database: any process may do the work). */
const EVENT_INTERVAL_MS = 500;

const BACK_LINKS: Record<BulkProgress['kind'], SafeHtml> = {
  import: html`<a href="/admin/import">Import more photos</a>`,
  sync: html`<a href="/admin/sync">All people's sync status</a>`,
  directory: html`<a href="/admin/directory">The directory and its last syncs</a>`,
};

const RunParams = Type.Object({ id: Type.String({ maxLength: 100, description: "The run's id" }) });
const CancelForm = Type.Object({ _csrf: CsrfToken });

const STATUS_WORDS: Record<BulkProgress['status'], string> = {
  running: 'Running',
  finished: 'Finished',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

export function progressFigures(p: BulkProgress): SafeHtml {
  const percent = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100);
  return html`<progress id="run-bar" max="${p.total || 1}" value="${p.total === 0 ? 1 : p.done}" aria-label="${p.label}">${percent}%</progress>
    <p id="run-figures" role="status" aria-live="polite"><span id="run-percent">${percent}%</span> —
      <span id="run-done">${p.done}</span> of <span id="run-total">${p.total}</span> done,
      <span id="run-failed">${p.failed}</span> failed, <span id="run-rate">${p.ratePerSecond}</span> per second<span id="run-eta-part" ${p.status === 'running' ? '' : 'hidden'}>,
      about <span id="run-eta">${p.etaSeconds === null ? 'unknown' : `${p.etaSeconds} s`}</span> to go</span>.
      <span id="run-status">${STATUS_WORDS[p.status]}</span></p>`;
}

/**
 * A long run's page (a force sync, an import): live figures over server-sent events (the page's
 * script is an asset; the CSP allows no inline script), the failures with their reasons, and Cancel.
 * The run is in the database, so every server process serves these pages, also after a restart.
 */
export const registerBulkRunPages: FastifyPluginAsyncTypebox<BulkRunPagesOptions> = async (app, options) => {
  const { syncAdmin, auth } = options;
  const { signedIn, page } = createPageRendering(auth);
  const findRun = async (actor: Actor, id: string) => {
    const run = await syncAdmin.findRun(actor, id);
    if (!run) throw new NotFound('There is no such run (finished runs are deleted after some days).');
    return run;
  };

  app.get('/admin/runs/:id', { config: PAGE, schema: { hide: true, params: RunParams } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    const p = await findRun(actor, request.params.id);
    const details = p.status !== 'running' ? await options.finishedRunDetails?.(actor, p) : undefined;
    return page(
      reply,
      actor,
      p.label,
      html`<h1>${p.label}</h1>
        <p class="hint">Started by ${p.startedBy} at ${formatTime(p.startedAt)}.</p>
        <section class="card" id="run" data-events="/admin/runs/${p.id}/events">
          ${progressFigures(p)}
          <form method="post" action="/admin/runs/${p.id}/cancel" class="actions" id="run-cancel" ${p.status !== 'running' ? 'hidden' : ''}>
            <input type="hidden" name="_csrf" value="${csrfToken(reply)}">
            <button type="submit" class="danger">Cancel</button>
          </form>
        </section>
        ${
          details
            ? '' // The report lists every file with its outcome, failures included: not twice.
            : html`<section class="card" aria-labelledby="failures-heading">
              <h2 id="failures-heading">Failures</h2>
              <ul id="run-failures">${p.failures.map((f) => html`<li><strong>${f.item}</strong>: ${f.reason}</li>`)}</ul>
              <p class="hint" id="run-no-failures" ${p.failures.length ? 'hidden' : ''}>${p.status === 'running' ? 'None so far.' : 'None.'}</p>
            </section>`
        }
        ${details ?? (p.status === 'running' && p.kind !== 'sync' ? html`<p class="hint" id="run-reload-hint">The report appears here when the ${p.kind === 'import' ? 'import' : 'sync'} has finished.</p>` : '')}
        <p>${BACK_LINKS[p.kind]}</p>`,
      ['/assets/run-progress.js'],
    );
  });

  app.get('/admin/runs/:id/events', { config: PAGE, schema: { hide: true, params: RunParams } }, async (request, reply) => {
    const actor = await auth.requireActor(request);
    let progress = await findRun(actor, request.params.id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    const send = (event: string, data: BulkProgress) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('progress', progress);
    let closed = false;
    request.raw.on('close', () => (closed = true));
    // The run's row is the truth wherever its work happens: read it a few times a second until it is over.
    while (!closed && progress.status === 'running') {
      await new Promise((resolve) => setTimeout(resolve, EVENT_INTERVAL_MS));
      try {
        progress = (await syncAdmin.findRun(actor, progress.id)) ?? { ...progress, status: 'interrupted' };
      } catch (error) {
        request.log.warn({ err: error, runId: progress.id }, 'could not read a run for its live page; the page stops following it');
        break;
      }
      if (!closed && progress.status === 'running') send('progress', progress);
    }
    if (!closed && !res.writableEnded) {
      send('finished', progress);
      res.end();
    }
  });

  // Who may cancel, and that the run exists, are settled before the form's body is read.
  const runFirst = refuseBeforeBody(signedIn, (actor, request) => findRun(actor, (request.params as { id: string }).id));
  app.post(
    '/admin/runs/:id/cancel',
    { config: PAGE, onRequest: runFirst, preValidation: app.csrfProtection, schema: { hide: true, params: RunParams, body: CancelForm } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      await findRun(actor, request.params.id);
      await syncAdmin.cancelRun(actor, request.params.id);
      return reply.redirect(`/admin/runs/${encodeURIComponent(request.params.id)}`, 303);
    },
  );
};
