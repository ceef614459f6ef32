import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { runPhotosync } from '../support/run-cli.ts';
import { corruptMailPhoto, runOutcome } from '../support/sync-fixtures.ts';
import { cookiesOf, startTestApp, type TestApp } from '../support/test-app.ts';

const photo = (n: number) =>
  makePhoto('jpeg', 200, 200, { color: `#${(0x204060 + n * 0x030507).toString(16).slice(-6)}`, marker: '#ffffff' });

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`sync state and force sync on ${kind}`, { skip }, () => {
    let t: TestApp;
    let admin: Person;
    let adminCookie: string;
    /** The server's clock: real time, moved forward where a test lets time pass. */
    let clockAheadMs = 0;
    const cli = (args: string[]) => runPhotosync(args, t.env);
    const counts = () => t.services.syncStatus.countByState();
    /** The state the SQL read model gives one person must be the one the engine describes. */
    const bothStates = async (who: Person) => {
      const [row] = await t.services.syncStatus.list({ search: who.userPrincipalName, limit: 1 });
      const described = await t.services.sync.getSyncState(who);
      assert.equal(row?.state, described.state, 'the status table and the info page agree');
      return described;
    };

    before(async () => {
      t = await startTestApp(kind, {}, { now: () => new Date(Date.now() + clockAheadMs) });
      admin = await t.addPerson('admin@contoso.example', { role: 'admin' });
      adminCookie = await t.signIn(admin.userPrincipalName);
    });
    after(() => t.close());

    test('sync state moves never synced → in sync → out of date → failed (with reason) → in sync', async () => {
      const person = await t.addPerson('states@contoso.example');
      assert.equal((await bothStates(person)).state, 'never-synced');
      await t.services.mail.setPhoto(CLI_ACTOR, person, await photo(1), 'cli');
      assert.equal((await bothStates(person)).state, 'never-synced');
      await t.services.sync.syncProfilePhoto(person, 'admin');
      const inSync = await bothStates(person);
      assert.equal(inSync.state, 'in-sync');
      assert.equal(inSync.mailEtag, inSync.syncedEtag);
      assert.equal(inSync.lastTrigger, 'admin');
      await t.services.mail.setPhoto(CLI_ACTOR, person, await photo(2), 'cli');
      const stale = await bothStates(person);
      assert.equal(stale.state, 'out-of-date');
      assert.notEqual(stale.mailEtag, stale.syncedEtag);
      await corruptMailPhoto(t, person);
      await t.services.sync.syncProfilePhoto(person, 'cli');
      const failed = await bothStates(person);
      assert.equal(failed.state, 'failed');
      assert.match(failed.reason ?? '', /could not be read/);
      assert.equal(failed.syncedEtag, inSync.syncedEtag, 'the previous copy stays');
      await t.services.mail.setPhoto(CLI_ACTOR, person, await photo(3), 'cli');
      await t.services.sync.syncProfilePhoto(person, 'admin');
      assert.equal((await bothStates(person)).state, 'in-sync');
    });

    test('force sync of everyone with one bad photo among many: the rest succeed, exit code 1, the reason shown', async () => {
      const people: Person[] = [];
      for (let i = 0; i < 8; i++) {
        const person = await t.addPerson(`many${i}@contoso.example`);
        await t.services.mail.setPhoto(CLI_ACTOR, person, await photo(10 + i), 'cli');
        people.push(person);
      }
      await corruptMailPhoto(t, people[3]!);
      const run = await cli(['sync', '--all']);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stdout, /failed: many3@contoso\.example: The Mail photo could not be read/);
      assert.match(run.stdout, /failed\b.*in [\d.]+ s\./);
      assert.match(run.stderr, /\d+\/\d+ done, 1 failed/, 'plain progress lines when piped');
      for (const [i, person] of people.entries()) {
        assert.equal((await t.services.sync.getSyncState(person)).state, i === 3 ? 'failed' : 'in-sync');
      }
      const json = await cli(['status', 'many3@contoso.example', '--json']);
      const status = JSON.parse(json.stdout);
      assert.equal(status.state, 'failed');
      assert.equal(status.history[0].trigger, 'cli');
      assert.match(status.history[0].error, /could not be read/);
    });

    test('sync --all --stale-only syncs only the out-of-date and never-checked', async () => {
      const fresh = await t.addPerson('stale-only@contoso.example');
      await t.services.mail.setPhoto(CLI_ACTOR, fresh, await photo(30), 'cli');
      const stale = await t.services.syncStatus.listOutOfDate(10_000);
      assert.ok(stale.includes(fresh.id));
      const run = await cli(['sync', '--all', '--stale-only', '--json']);
      const progress = JSON.parse(run.stdout);
      assert.equal(progress.total, stale.length);
      assert.ok(progress.total < (await t.services.directory.listPeople({ limit: 1000 })).length, 'the in-sync people are not in the run');
      assert.equal((await t.services.sync.getSyncState(fresh)).state, 'in-sync');
      assert.deepEqual(
        progress.failures.map((f: { item: string }) => f.item),
        ['many3@contoso.example'],
        'the broken photo still fails',
      );
      assert.equal(run.code, 1);
    });

    test('one person can be synced from the CLI; usage errors exit 2', async () => {
      const person = await t.addPerson('one@contoso.example');
      await t.services.mail.setPhoto(CLI_ACTOR, person, await photo(40), 'cli');
      const run = await cli(['sync', 'one@contoso.example']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /one@contoso\.example: synced/);
      for (const args of [
        ['sync'],
        ['sync', 'one@contoso.example', '--all'],
        ['sync', 'one@contoso.example', '--stale-only'],
        ['status', '--state', 'bogus'],
        ['sync-mode', 'sometimes'],
        ['sync-mode', 'scheduled', '--interval', '0'],
      ]) {
        const bad = await cli(args);
        assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
        assert.notEqual(bad.stderr.trim(), '');
      }
      assert.equal((await cli(['sync', 'nobody@contoso.example'])).code, 1);
    });

    test('status prints the counts per state, and the people in one state', async () => {
      const run = await cli(['status', '--json']);
      const status = JSON.parse(run.stdout);
      assert.deepEqual(status.counts, await counts());
      assert.equal(status.mode, 'user-initiated');
      const failed = JSON.parse((await cli(['status', '--state', 'failed', '--json'])).stdout);
      assert.deepEqual(
        failed.people.map((p: { userPrincipalName: string }) => p.userPrincipalName),
        ['many3@contoso.example'],
      );
      const text = await cli(['status']);
      assert.match(text.stdout, /^Sync mode: user-initiated$/m);
      assert.match(text.stdout, /^failed\s+1$/m);
    });

    test('sync-mode shows and sets the mode, which the server then follows', async () => {
      assert.match((await cli(['sync-mode', 'scheduled', '--interval', '15'])).stdout, /scheduled \(every 15 min\)/);
      clockAheadMs += 2000; // the server re-reads settings within 2 s (on PostgreSQL, at once when told)
      assert.deepEqual(await t.services.syncAdmin.getSettings(CLI_ACTOR), { mode: 'scheduled', intervalMinutes: 15 });
      await t.services.syncAdmin.changeSettings(CLI_ACTOR, { mode: 'user-initiated', intervalMinutes: 60 });
      assert.match((await cli(['sync-mode'])).stdout, /^Sync mode: user-initiated$/m);
    });

    test('Prometheus shows syncs by trigger and result, their duration, and people per state', async () => {
      // /metrics is for admins (or METRICS_TOKEN): here an admin's browser session reads it.
      const metrics = (await t.app.inject({ method: 'GET', url: '/metrics', headers: { cookie: adminCookie } })).body;
      assert.match(metrics, /photosync_sync_runs_total\{trigger="admin",outcome="synced"\} \d+/);
      assert.match(metrics, /photosync_sync_duration_seconds_count \d+/);
      for (const state of ['never-synced', 'in-sync', 'out-of-date', 'failed'])
        assert.match(metrics, new RegExp(`photosync_people_by_sync_state\\{state="${state}"\\} \\d+`));
    });

    test('the sync status page shows counts, searches, filters by state and pages by UPN', async () => {
      const page = await t.app.inject({ method: 'GET', url: '/admin/sync', headers: { cookie: adminCookie } });
      assert.equal(page.statusCode, 200);
      const c = await counts();
      assert.match(page.body, new RegExp(`<strong>${c.failed}</strong> Failed`));
      const filtered = await t.app.inject({ method: 'GET', url: '/admin/sync?state=failed', headers: { cookie: adminCookie } });
      assert.match(filtered.body, /many3@contoso\.example/);
      assert.doesNotMatch(filtered.body, /many4@contoso\.example/);
      const search = await t.app.inject({ method: 'GET', url: '/admin/sync?q=MANY5', headers: { cookie: adminCookie } });
      assert.match(search.body, /many5@contoso\.example/);
      assert.doesNotMatch(search.body, /many4@contoso\.example/);
      const paged = await t.app.inject({
        method: 'GET',
        url: '/admin/sync?q=many&after=many5%40contoso.example',
        headers: { cookie: adminCookie },
      });
      assert.deepEqual(
        [...paged.body.matchAll(/<span class="hint">(many\d)@/g)].map((m) => m[1]),
        ['many6', 'many7'],
      );
      for (const bad of ['/admin/sync?state=stale', `/admin/sync?q=${'x'.repeat(300)}`, '/admin/sync?q=a&q=b']) {
        const response = await t.app.inject({ method: 'GET', url: bad, headers: { cookie: adminCookie } });
        assert.equal(response.statusCode, 400, bad);
        assert.match(response.headers['content-type'] as string, /text\/html/);
      }
      const person = await t.app.inject({
        method: 'GET',
        url: '/admin/sync/people/many3%40contoso.example',
        headers: { cookie: adminCookie },
      });
      assert.match(person.body, /could not be read/);
      assert.match(person.body, /<td data-label="Why">The command line<\/td><td data-label="Result"><div>Failed/);
    });

    test('an admin force-syncs from the page and follows the run over server-sent events', async () => {
      const form = await t.app.inject({ method: 'GET', url: '/admin/sync', headers: { cookie: adminCookie } });
      const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
      const cookie = [adminCookie, cookiesOf(form)].filter(Boolean).join('; ');
      const started = await t.app.inject({
        method: 'POST',
        url: '/admin/sync/runs',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: csrf, scope: 'all' }).toString(),
      });
      assert.equal(started.statusCode, 303);
      const runUrl = started.headers.location as string;
      assert.match(runUrl, /^\/admin\/runs\/[0-9a-f-]{36}$/);
      const events = await t.app.inject({ method: 'GET', url: `${runUrl}/events`, headers: { cookie } });
      assert.equal(events.headers['content-type'], 'text/event-stream; charset=utf-8');
      const finished = /event: finished\ndata: (.+)\n/.exec(events.body);
      assert.ok(finished, 'the stream ends with a finished event');
      const progress = JSON.parse(finished[1]!);
      assert.equal(progress.done, progress.total);
      assert.equal(progress.failed, 1);
      assert.match(progress.failures[0].reason, /could not be read/);
      const page = await t.app.inject({ method: 'GET', url: runUrl, headers: { cookie } });
      assert.match(page.body, /id="run-percent">100%/);
    });

    test('a second bulk sync while one runs gets 409 with a link to the running one', async () => {
      // A run with nobody to work on it stays running for as long as the test needs.
      const runningId = await t.services.runs.start({ kind: 'sync', label: 'Sync everyone', startedBy: 'another admin', total: 1 });
      const form = await t.app.inject({ method: 'GET', url: '/admin/sync', headers: { cookie: adminCookie } });
      const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
      const second = await t.app.inject({
        method: 'POST',
        url: '/admin/sync/runs',
        headers: { cookie: [adminCookie, cookiesOf(form)].filter(Boolean).join('; '), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: csrf, scope: 'stale' }).toString(),
      });
      assert.equal(second.statusCode, 409);
      assert.match(second.body, /still running/);
      assert.match(second.body, new RegExp(`<a href="/admin/runs/${runningId}">`));
      await t.services.syncAdmin.cancelRun(CLI_ACTOR, runningId);
    });

    test('a force sync can be cancelled: it stops after the people in progress', async () => {
      const runId = await t.services.syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: false });
      const run = { id: runId };
      await t.services.syncAdmin.cancelRun(CLI_ACTOR, runId);
      const progress = await runOutcome(t, runId);
      assert.equal(progress.status, 'cancelled');
      assert.ok(progress.done < progress.total, `stopped early: ${progress.done} of ${progress.total}`);

      // The page's Cancel button posts here (with CSRF) and comes back to the run.
      const page = await t.app.inject({ method: 'GET', url: `/admin/runs/${run.id}`, headers: { cookie: adminCookie } });
      assert.match(page.body, /id="run-status">Cancelled/);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
      const cancelled = await t.app.inject({
        method: 'POST',
        url: `/admin/runs/${run.id}/cancel`,
        headers: { cookie: [adminCookie, cookiesOf(page)].filter(Boolean).join('; '), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: csrf }).toString(),
      });
      assert.equal(cancelled.statusCode, 303);
      assert.equal(cancelled.headers.location, `/admin/runs/${run.id}`);
    });

    test('the admin pages and their actions refuse people who are not admins', async () => {
      const person = await t.addPerson('plain@contoso.example');
      const cookie = await t.signIn(person.userPrincipalName);
      for (const url of ['/admin/sync', '/admin/sync/people/plain%40contoso.example', '/admin/import', '/admin/audit']) {
        const response = await t.app.inject({ method: 'GET', url, headers: { cookie } });
        assert.equal(response.statusCode, 403, url);
        assert.match(response.body, /admin/i);
        const anonymous = await t.app.inject({ method: 'GET', url });
        assert.equal(anonymous.statusCode, 303, `${url} sends an anonymous visitor to sign in`);
        assert.match(anonymous.headers.location as string, /^\/signin/);
      }
      const form = await t.app.inject({ method: 'GET', url: '/mail/photo', headers: { cookie } });
      const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
      const withCsrf = [cookie, cookiesOf(form)].filter(Boolean).join('; ');
      for (const [url, fields] of [
        ['/admin/sync/runs', { scope: 'all' }],
        ['/admin/sync/settings', { mode: 'on-change', intervalMinutes: '5' }],
        ['/admin/sync/people/plain%40contoso.example', {}],
      ] as const) {
        const response = await t.app.inject({
          method: 'POST',
          url,
          headers: { cookie: withCsrf, 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ _csrf: csrf, ...fields }).toString(),
        });
        assert.equal(response.statusCode, 403, url);
      }
      assert.equal((await t.services.syncAdmin.getSettings(CLI_ACTOR)).mode, 'user-initiated', 'nothing changed');
    });
  });
}
