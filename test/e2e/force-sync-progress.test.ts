import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { makePhoto } from '../support/images.ts';
import { browserSkip, launchChromium, privateWindow as privateWindowOf, SCREENSHOTS, signInAs } from '../support/browser.ts';
import { startTestApp, TEST_PASSWORD, type TestApp } from '../support/test-app.ts';

const ADMIN = 'admin@contoso.example';
const PEOPLE = 60;
/** Long enough for 60 syncs on a slow CI machine, short enough to fail well inside the test runner's patience. */
const RUN_TIMEOUT_MS = 20_000;

const upnOf = (i: number) => `person${String(i).padStart(2, '0')}@contoso.example`;

/** A distinct colour per person: the hue walks round the wheel, so no two photos share their bytes. */
function colourOf(i: number): string {
  const hue = (i * 360) / PEOPLE;
  const channel = (offset: number) => {
    const k = (offset + hue / 60) % 6;
    const value = 1 - Math.max(0, Math.min(k, 4 - k, 1));
    return Math.round(value * 200 + 30)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${channel(5)}${channel(3)}${channel(1)}`;
}

describe('a force sync watched in a real browser', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;

  before(async () => {
    t = await startTestApp('sqlite');
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    await t.addPerson(ADMIN, { role: 'admin' });
    // One password hash for everyone (what t.addPerson computes per call): argon2 is slow on purpose.
    const passwordHash = await t.services.identity.hashPassword(TEST_PASSWORD);
    const photos = await Promise.all(
      Array.from({ length: PEOPLE }, (_, i) => makePhoto('jpeg', 300, 300, { color: colourOf(i), marker: colourOf(i + PEOPLE / 2) })),
    );
    for (let i = 0; i < PEOPLE; i++) {
      const person = await t.services.directory.addPerson({ userPrincipalName: upnOf(i), role: 'user', passwordHash });
      await t.services.mail.setPhoto(CLI_ACTOR, person, photos[i]!, 'cli');
    }
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  const privateWindow = (problems: string[]) => privateWindowOf(browser, problems);
  const signIn = (page: Page, upn: string) => signInAs(page, base, upn);

  /** The number a state's link shows in the "People per sync state" list. */
  async function countShown(page: Page, label: 'Everyone' | 'Never synced' | 'In sync' | 'Out of date' | 'Failed'): Promise<number> {
    const link = page.getByRole('list', { name: 'People per sync state' }).getByRole('link', { name: new RegExp(`^\\d+ ${label}$`) });
    const text = (await link.locator('strong').textContent())?.trim() ?? '';
    assert.match(text, /^\d+$/, `the "${label}" count is a number`);
    return Number(text);
  }

  const textOf = async (page: Page, selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();

  test('an admin starts a force sync and watches it reach 100%', async () => {
    const everyone = await t.services.directory.listPeople({ limit: 100_000 });
    const enabled = everyone.filter((p) => p.enabled).length;
    assert.equal(everyone.length, PEOPLE + 1, 'the people and the admin');

    const problems: string[] = [];
    const admin = await privateWindow(problems);
    await signIn(admin, ADMIN);

    // Nobody has been synced yet: not the people with Mail photos, not the admin without one.
    const firstVisit = await admin.goto(`${base}/admin/sync`);
    assert.equal(firstVisit?.status(), 200);
    await admin.getByRole('heading', { name: 'Sync status' }).waitFor();
    assert.equal(await countShown(admin, 'Everyone'), everyone.length);
    assert.equal(await countShown(admin, 'Never synced'), everyone.length);
    assert.equal(await countShown(admin, 'In sync'), 0);

    // Hold the run's syncs until its page is up, so the page deterministically starts at "Running"
    // and every later figure comes from the live events, not from the server-rendered page.
    const engine = t.services.sync;
    const realSync = engine.syncProfilePhoto;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    engine.syncProfilePhoto = async function (this: typeof engine, ...args: Parameters<typeof realSync>) {
      await gate;
      return realSync.apply(this, args);
    };
    try {
      await Promise.all([admin.waitForURL(/\/admin\/runs\/[0-9a-f-]{36}$/), admin.getByRole('button', { name: 'Sync everyone' }).click()]);
      await admin.getByRole('heading', { name: 'Sync everyone' }).waitFor();
      assert.equal(await textOf(admin, '#run-status'), 'Running');
      assert.equal(await textOf(admin, '#run-percent'), '0%');
      assert.equal(await textOf(admin, '#run-total'), String(enabled));
      assert.equal(await admin.locator('#run-cancel').isVisible(), true, 'Cancel is offered while it runs');
      await admin.evaluate(() => {
        const seen: string[] = ((window as unknown as { seenPercents: string[] }).seenPercents = []);
        const percent = document.getElementById('run-percent')!;
        new MutationObserver(() => seen.push(percent.textContent ?? '')).observe(percent, {
          childList: true,
          characterData: true,
          subtree: true,
        });
      });
    } finally {
      // Syncs already waiting go on through the real method; later ones call it directly.
      release();
      engine.syncProfilePhoto = realSync;
    }
    await admin.waitForFunction(
      () =>
        document.getElementById('run-percent')?.textContent === '100%' && document.getElementById('run-status')?.textContent === 'Finished',
      null,
      { timeout: RUN_TIMEOUT_MS, polling: 100 },
    );
    assert.equal(await textOf(admin, '#run-failed'), '0');
    assert.equal(await textOf(admin, '#run-total'), String(enabled));
    assert.equal(await textOf(admin, '#run-done'), String(enabled));
    const bar = await admin.locator('#run-bar').evaluate((el: HTMLProgressElement) => ({ value: el.value, max: el.max }));
    assert.deepEqual(bar, { value: enabled, max: enabled }, 'the bar is full');
    assert.equal(await admin.locator('#run-cancel').isHidden(), true, 'no Cancel once finished');
    assert.equal(await admin.locator('#run-failures li').count(), 0);
    // The script handled the run's finished event: no time left to estimate, no failures "so far".
    assert.equal(await admin.locator('#run-eta-part').isHidden(), true, 'no estimate once finished');
    assert.equal(await textOf(admin, '#run-no-failures'), 'None.');
    assert.equal(await admin.getByText(/Reload/).count(), 0, 'nothing asks to reload');
    const seen = await admin.evaluate(() => (window as unknown as { seenPercents: string[] }).seenPercents);
    assert.equal(seen.at(-1), '100%', `the live events moved the figure to 100% (seen: ${seen.join(', ')})`);
    await admin.screenshot({ path: path.join(SCREENSHOTS, 'force-sync-progress.png'), fullPage: true });

    // Everyone is in sync now; the admin's placeholder matches the admin's empty Mail photo.
    const afterRun = await admin.goto(`${base}/admin/sync`);
    assert.equal(afterRun?.status(), 200);
    assert.equal(await countShown(admin, 'In sync'), everyone.length);
    assert.equal(await countShown(admin, 'Never synced'), 0);
    assert.equal(await countShown(admin, 'Out of date'), 0);
    assert.equal(await countShown(admin, 'Failed'), 0);
    // The run is listed under the form, finished.
    const listed = admin.getByRole('listitem').filter({ has: admin.getByRole('link', { name: 'Sync everyone' }) });
    assert.equal(((await listed.textContent()) ?? '').trim(), `Sync everyone: ${enabled}/${enabled}, 0 failed (finished)`);

    assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
  });

  test('a person who is not an admin gets a 403 page at /admin/sync', async () => {
    const problems: string[] = [];
    const person = await privateWindow(problems);
    await signIn(person, upnOf(7));
    const response = await person.goto(`${base}/admin/sync`);
    assert.equal(response?.status(), 403);
    await person.getByRole('heading', { name: 'Something is not right' }).waitFor();
    assert.match((await person.getByRole('alert').textContent()) ?? '', /Only an admin/);
    assert.equal(await person.getByRole('button', { name: 'Sync everyone' }).count(), 0);
    await person.screenshot({ path: path.join(SCREENSHOTS, 'force-sync-forbidden.png'), fullPage: true });
    // Chromium reports any 4xx document as a failed resource load; that, and nothing else, is expected.
    assert.deepEqual(
      problems.filter((p) => !/Failed to load resource: the server responded with a status of 403/.test(p)),
      [],
      'no console errors, page errors or CSP violations besides the 403 itself',
    );
  });
});
