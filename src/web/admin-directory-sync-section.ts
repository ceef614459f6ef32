import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { LdapSyncConfig } from '../config.ts';
import { DIRECTORY_OUTCOMES, type DirectoryOutcome, type DirectorySync, type DirectorySyncReport } from '../directory-sync/index.ts';
import { CsrfToken } from '../http/index.ts';
import type { Actor, RequestAuthentication } from '../identity/index.ts';
import type { BulkProgress } from '../runs/index.ts';
import { formatTime, html, type SafeHtml } from './html.ts';
import { createPageRendering, PAGE, refuseBeforeBody } from './page-rendering.ts';

const RECENT_RUNS = 10;

const OUTCOME_WORDS: Record<DirectoryOutcome, string> = {
  created: 'created',
  updated: 'updated',
  unchanged: 'unchanged',
  disabled: 'disabled',
  enabled: 'enabled again',
  skipped: 'skipped',
  failed: 'failed',
};

const PHOTO_WORDS: Record<string, string> = {
  imported: 'photo imported into Mail',
  unchanged: 'photo unchanged',
  'not-used': 'photo not used (policy)',
  'kept-own-photo': 'photo not used: the person has their own',
  removed: 'Mail photo removed (the directory has none)',
  rejected: 'photo rejected',
  'would be offered': 'photo would be offered to the policy',
};

function disabledRuleWords(rule: LdapSyncConfig['disabledRule']): string {
  if (rule.kind === 'none') return 'none (only entries that vanish disable people)';
  if (rule.kind === 'userAccountControl') return 'userAccountControl has the ACCOUNTDISABLE flag (2)';
  return `${rule.attribute} is ${rule.value}`;
}

function runResult(run: BulkProgress): SafeHtml {
  const summary = (run.summary ?? {}) as { error?: string | null };
  if (summary.error) return html`<strong>Failed:</strong> ${summary.error}`;
  if (run.status === 'running') return html`Running: ${run.done} of about ${run.total} entries`;
  return html`${run.status === 'finished' ? 'Finished' : run.status === 'cancelled' ? 'Cancelled' : 'Interrupted'}: ${run.done} entries, ${run.failed} skipped or failed`;
}

/** The "LDAP directory sync" section of /admin/directory: the settings in effect (never the password), the last runs, Sync now. */
export function renderDirectorySyncSection(
  settings: Omit<LdapSyncConfig, 'bindPassword'> | undefined,
  runs: readonly BulkProgress[],
  csrf: string,
): SafeHtml {
  if (!settings) {
    return html`<section class="card" aria-labelledby="ldap-heading">
      <h2 id="ldap-heading">LDAP directory sync</h2>
      <p>Not set up. Set <code>LDAP_URL</code>, <code>LDAP_BASE_DN</code> and the other <code>LDAP_*</code> settings described in the README, then restart photosync.</p>
    </section>`;
  }
  const a = settings.attributes;
  const rows: [string, string][] = [
    ['Directory', `${settings.url}${settings.startTls ? ' with StartTLS' : ''}`],
    ['Trusted CA', settings.caFile ?? "the system's"],
    [
      'Signs in as',
      settings.bindDn
        ? `${settings.bindDn} (password ${settings.bindPasswordFile ? `from ${settings.bindPasswordFile}` : 'set'})`
        : 'anonymous',
    ],
    ['People under', settings.baseDn],
    ['Filter', settings.filter],
    [
      'Attributes',
      `sign-in name ${a.userPrincipalName}, name ${a.displayName}, mail ${a.mail}, photo ${a.photo}, stable id ${a.stableId}, changed ${a.changedAt}`,
    ],
    ['Disabled when', disabledRuleWords(settings.disabledRule)],
    ['Page size', String(settings.pageSize)],
    [
      'Schedule',
      settings.intervalMinutes === 0 ? 'off (Sync now and photosync directory sync only)' : `every ${settings.intervalMinutes} minutes`,
    ],
  ];
  return html`<section class="card" aria-labelledby="ldap-heading">
    <h2 id="ldap-heading">LDAP directory sync</h2>
    <p class="hint">People are added, updated, disabled and enabled as the directory says; nobody is removed. Their photos follow the LDAP photo policy above.</p>
    <dl class="settings">${rows.map(([term, value]) => html`<dt>${term}</dt><dd>${value}</dd>`)}</dl>
    <form method="post" action="/admin/directory/sync" class="actions">
      <input type="hidden" name="_csrf" value="${csrf}">
      <button type="submit" name="mode" value="sync">Sync now</button>
      <button type="submit" name="mode" value="dry-run" class="secondary">Dry run (change nothing)</button>
    </form>
    <h3>Last runs</h3>
    ${
      runs.length === 0
        ? html`<p class="hint" id="ldap-no-runs">None yet.</p>`
        : html`<ul id="ldap-runs">${runs.map((run) => html`<li><a href="/admin/runs/${run.id}">${run.label}</a>, ${formatTime(run.startedAt)} by ${run.startedBy}: ${runResult(run)}</li>`)}</ul>`
    }
  </section>`;
}

/** A finished directory sync's report on its run page: the counts, then every entry that did something. */
export function renderDirectorySyncReport(report: DirectorySyncReport): SafeHtml {
  const notable = report.entries.filter((e) => e.outcome !== 'unchanged' || e.photo !== null);
  return html`<section class="card" aria-labelledby="report-heading">
    <h2 id="report-heading">${report.dryRun ? 'Dry run report (nothing was changed)' : 'Directory sync report'}</h2>
    ${report.error ? html`<p class="error" role="alert"><strong>The sync failed:</strong> ${report.error}</p>` : ''}
    <p>${report.entriesRead} entries read in ${report.pages} pages; ${report.dryRun ? '' : html`${report.photosImported} photos imported into Mail.`}</p>
    <ul class="counts" aria-label="Entries per result">${DIRECTORY_OUTCOMES.filter((o) => report.counts[o] > 0).map((o) => html`<li><span class="count"><strong>${report.counts[o]}</strong> ${OUTCOME_WORDS[o]}</span></li>`)}</ul>
    ${
      notable.length
        ? html`<table class="stack"><thead><tr><th scope="col">Entry</th><th scope="col">Result</th><th scope="col">Photo</th></tr></thead>
        <tbody>${notable.map((e) => html`<tr><td data-label="Entry">${e.item}</td><td data-label="Result"><div>${OUTCOME_WORDS[e.outcome] ?? e.outcome}${e.reason ? html`<br><span class="hint">${e.reason}</span>` : ''}</div></td><td data-label="Photo">${e.photo ? (PHOTO_WORDS[e.photo] ?? e.photo) : '-'}</td></tr>`)}</tbody></table>`
        : html`<p class="hint">Every entry was as before.</p>`
    }
  </section>`;
}

const SyncForm = Type.Object({
  _csrf: CsrfToken,
  mode: Type.Optional(Type.Enum(['sync', 'dry-run'], { title: 'kind of sync' })),
});

export interface DirectorySyncRoutesOptions {
  directorySync: DirectorySync;
  auth: RequestAuthentication;
}

/** "Sync now": starts a directory sync and shows its run's page. */
export const registerDirectorySyncRoutes: FastifyPluginAsyncTypebox<DirectorySyncRoutesOptions> = async (app, options) => {
  const { directorySync, auth } = options;
  const { signedIn } = createPageRendering(auth);
  const adminFirst = refuseBeforeBody(signedIn, (actor) => directorySync.assertMayAdminister(actor));
  app.post(
    '/admin/directory/sync',
    { config: PAGE, onRequest: adminFirst, preValidation: app.csrfProtection, schema: { hide: true, body: SyncForm } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      const { runId, report } = await directorySync.start(actor, { dryRun: request.body.mode === 'dry-run' });
      // The run ends on its own; its outcome (also a failure) is in its report and the log.
      report.catch((error: unknown) =>
        request.log.error({ err: error, runId }, 'a directory sync started from the admin page ended unexpectedly'),
      );
      return reply.redirect(`/admin/runs/${runId}`, 303);
    },
  );
};

/** The directory section's data for the page. */
export async function directorySyncSectionFor(directorySync: DirectorySync, actor: Actor, csrf: string): Promise<SafeHtml> {
  return renderDirectorySyncSection(directorySync.settings(actor), await directorySync.listRuns(actor, RECENT_RUNS), csrf);
}
