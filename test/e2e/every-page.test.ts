import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page, Response } from 'playwright-core';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { makePhoto } from '../support/images.ts';
import { browserSkip, launchChromium, SCREENSHOTS, signInAs } from '../support/browser.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

const ADMIN = 'admin@contoso.example';
const ADA = 'ada.lovelace@contoso.example';
const GRACE = 'grace.hopper@contoso.example';
/** A phone (an iPhone 12 to 15 is 390 CSS pixels wide) and a laptop. */
const WIDTHS = [390, 1280] as const;
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Visit {
  /** The screenshot's name: page-<name>-<width>.png. */
  name: string;
  url: string;
  status?: number;
  /** Reaches the page another way than by its URL (a form's answer); returns the page's response. */
  open?: (page: Page) => Promise<Response | null>;
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/**
 * Every page a person can reach, as anonymous, a person and an admin, at a phone's and a laptop's
 * width: nothing wider than the screen, no serious or critical axe-core violation, a screenshot each.
 */
describe('every page fits a phone and a laptop and passes axe-core', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;

  before(async () => {
    // An LDAP directory nobody answers at: the directory page shows its settings and a failed run's report.
    t = await startTestApp('sqlite', {
      LDAP_URL: 'ldap://127.0.0.1:1',
      LDAP_BASE_DN: 'ou=people,dc=contoso,dc=example',
      LDAP_BIND_DN: 'cn=photosync,dc=contoso,dc=example',
      LDAP_BIND_PASSWORD: 'not shown anywhere',
    });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    await t.addPerson(ADMIN, { role: 'admin' });
    const ada = await t.addPerson(ADA);
    await t.addPerson(GRACE);
    await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 600, 600, { color: '#c03060', marker: '#2050c0' }), 'cli');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  /** A signed-in (or anonymous) window whose console errors and CSP violations are collected. */
  async function windowFor(upn: string | undefined, problems: string[]): Promise<Page> {
    // A fixed zone far from UTC, so the test sees times rendered for the viewer.
    const context = await browser.newContext({
      viewport: { width: WIDTHS[1], height: 900 },
      timezoneId: 'Pacific/Auckland',
      locale: 'en-NZ',
    });
    const page = await context.newPage();
    page.on('console', (message) => {
      // Chromium reports a 4xx document as a failed load; the error pages are visited on purpose.
      if (message.type() === 'error' && !/Failed to load resource: the server responded with a status of 40[34]/.test(message.text())) {
        problems.push(`console: ${message.text()} (${page.url()})`);
      }
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message} (${page.url()})`));
    if (upn) await signInAs(page, base, upn);
    return page;
  }

  /** Visits one page at both widths: overflow, axe, screenshot. Returns the problems found. */
  async function check(page: Page, visit: Visit): Promise<string[]> {
    const found: string[] = [];
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      const response = visit.open ? await visit.open(page) : await page.goto(`${base}${visit.url}`);
      assert.equal(response?.status(), visit.status ?? 200, `${visit.url} answers ${visit.status ?? 200}`);
      // Every image decoded and the times rendered locally: the page as a person sees it.
      await page.waitForFunction(() => [...document.images].every((img) => img.complete) && document.readyState === 'complete');
      const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
      if (widths.scroll > widths.inner) found.push(`${visit.name} at ${width}px is ${widths.scroll}px wide`);
      // Through the DevTools protocol: the page's CSP (script-src 'self') does not apply to it.
      await page.evaluate(AXE_SOURCE);
      const violations = await page.evaluate(async () => {
        const axe = (window as unknown as { axe: { run(context: Document): Promise<{ violations: AxeViolation[] }> } }).axe;
        return (await axe.run(document)).violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.map((n) => ({ target: n.target })),
        }));
      });
      for (const v of violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')) {
        found.push(
          `${visit.name} at ${width}px: axe ${v.impact} ${v.id} (${v.help}) at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`,
        );
      }
      await page.screenshot({ path: path.join(SCREENSHOTS, `page-${visit.name}-${width}.png`), fullPage: true });
    }
    return found;
  }

  async function checkAll(page: Page, visits: Visit[]): Promise<string[]> {
    const found: string[] = [];
    for (const visit of visits) found.push(...(await check(page, visit)));
    return found;
  }

  test('anonymous: sign-in and the 404 page', async () => {
    const problems: string[] = [];
    const page = await windowFor(undefined, problems);
    const found = await checkAll(page, [
      { name: 'signin', url: '/signin' },
      { name: 'not-found-anonymous', url: '/no-such-page', status: 404 },
    ]);
    // The 404 page is styled: its stylesheet loaded under the page policy.
    await page.goto(`${base}/no-such-page`);
    assert.notEqual(
      await page.locator('header.bar').evaluate((el) => getComputedStyle(el).display),
      'block',
      'the stylesheet applies on the 404 page',
    );
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    assert.deepEqual(found, []);
    assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
    await page.context().close();
  });

  test('a person: home, Mail, Files, Sites, profiles, about, password, and the error pages in the app bar', async () => {
    const problems: string[] = [];
    const ada = await windowFor(ADA, problems);
    const found = await checkAll(ada, [
      { name: 'home', url: '/' },
      { name: 'mail-photo', url: '/mail/photo' },
      { name: 'files', url: '/files' },
      { name: 'sites', url: '/sites' },
      { name: 'own-profile', url: `/sites/people/${encodeURIComponent(ADA)}` },
      { name: 'colleague-profile', url: `/sites/people/${encodeURIComponent(GRACE)}` },
      { name: 'about-photo-sync', url: '/about/photo-sync' },
      { name: 'password', url: '/account/password' },
      { name: 'forbidden', url: '/admin/sync', status: 403 },
      { name: 'not-found-signed-in', url: '/no-such-page', status: 404 },
    ]);
    // The error pages keep the app bar and the person's account menu.
    await ada.goto(`${base}/no-such-page`);
    await ada.getByText('Account menu of Ada Lovelace').waitFor({ state: 'attached' });
    assert.equal(await ada.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Files' }).count(), 1);
    // Times in the viewer's zone, UTC kept in the title.
    await ada.goto(`${base}/about/photo-sync`);
    const time = ada.locator('time').first();
    await time.waitFor();
    assert.match((await time.getAttribute('title')) ?? '', / UTC$/);
    assert.doesNotMatch((await time.textContent()) ?? '', /UTC/, "shown in the viewer's time zone");

    const grace = await windowFor(GRACE, problems);
    found.push(...(await checkAll(grace, [{ name: 'mail-photo-empty', url: '/mail/photo' }])));
    assert.deepEqual(found, []);
    assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
    await ada.context().close();
    await grace.context().close();
  });

  test("an admin: sync status, a person's sync, a finished run, import and its report, audit, people", async () => {
    const problems: string[] = [];
    const admin = await windowFor(ADMIN, problems);
    // A force sync, watched to its end.
    await admin.goto(`${base}/admin/sync`);
    await Promise.all([admin.waitForURL(/\/admin\/runs\/[0-9a-f-]{36}$/), admin.getByRole('button', { name: 'Sync everyone' }).click()]);
    const syncRun = new URL(admin.url()).pathname;
    await admin.waitForFunction(() => document.getElementById('run-status')?.textContent === 'Finished', null, { timeout: 30_000 });
    // An import with a photo, a file nobody matches and a file that is not an image.
    await admin.goto(`${base}/admin/import`);
    await admin.getByLabel('Photos').setInputFiles([
      { name: `${GRACE}.jpg`, mimeType: 'image/jpeg', buffer: await makePhoto('jpeg', 300, 300, { color: '#208040', marker: '#f0c000' }) },
      { name: 'nobody@contoso.example.jpg', mimeType: 'image/jpeg', buffer: await makePhoto('jpeg', 100, 100) },
      { name: 'readme.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo') },
    ]);
    await Promise.all([admin.waitForURL(/\/admin\/runs\/[0-9a-f-]{36}$/), admin.getByRole('button', { name: 'Import' }).click()]);
    const importRun = new URL(admin.url()).pathname;
    await admin.getByRole('heading', { name: 'Import report' }).waitFor({ timeout: 30_000 });
    // "Sync now" with the LDAP directory, which cannot be reached: the run's page says why.
    await admin.goto(`${base}/admin/directory`);
    await Promise.all([admin.waitForURL(/\/admin\/runs\/[0-9a-f-]{36}$/), admin.getByRole('button', { name: 'Sync now' }).click()]);
    const directoryRun = new URL(admin.url()).pathname;
    await admin.getByRole('heading', { name: 'Directory sync report' }).waitFor({ timeout: 30_000 });

    const found = await checkAll(admin, [
      { name: 'admin-home', url: '/' },
      { name: 'admin-sync', url: '/admin/sync' },
      { name: 'admin-sync-person', url: `/admin/sync/people/${encodeURIComponent(ADA)}` },
      { name: 'admin-sync-run', url: syncRun },
      { name: 'admin-import', url: '/admin/import' },
      { name: 'admin-import-report', url: importRun },
      { name: 'admin-audit', url: '/admin/audit' },
      { name: 'admin-directory', url: '/admin/directory' },
      { name: 'admin-directory-run', url: directoryRun },
      { name: 'admin-people', url: '/admin/people' },
      { name: 'admin-people-person', url: `/admin/people/${encodeURIComponent(ADA)}` },
      { name: 'admin-people-remove', url: `/admin/people/${encodeURIComponent(GRACE)}/remove` },
      {
        name: 'admin-people-one-time-password',
        url: `/admin/people/${encodeURIComponent(GRACE)}/password`,
        async open(page) {
          await page.goto(`${base}/admin/people/${encodeURIComponent(GRACE)}`);
          const [response] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Reset password' }).click()]);
          return response;
        },
      },
    ]);
    assert.deepEqual(found, []);
    assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
    await admin.context().close();
  });
});
