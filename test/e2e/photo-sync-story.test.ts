import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { makePhoto } from '../support/images.ts';
import { browserSkip, launchChromium, privateWindow as privateWindowOf, SCREENSHOTS, signInAs } from '../support/browser.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

const RED = '#d01010';
const GREEN = '#10c020';

describe('the photo sync story in a real browser', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  const problems: string[] = [];

  before(async () => {
    t = await startTestApp('sqlite');
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    await t.addPerson('ada.lovelace@contoso.example');
    await t.addPerson('grace.hopper@contoso.example');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  const privateWindow = () => privateWindowOf(browser, problems);
  const signIn = (page: Page, upn: string) => signInAs(page, base, upn);

  async function openTile(page: Page, name: 'Mail' | 'Files' | 'Sites'): Promise<void> {
    // The home page's tile (the app bar has a link of the same name).
    await page
      .getByRole('list', { name: 'Apps' })
      .getByRole('link', { name: new RegExp(`^${name}`) })
      .click();
    await page.waitForLoadState('load');
  }

  /** What a person sees in an image: the mean colour of its middle, read from a screenshot. */
  async function colourOf(page: Page, alt: string): Promise<'red' | 'green' | 'other'> {
    const image = page.getByAltText(alt, { exact: true }).first();
    await image.waitFor();
    await page.waitForFunction((text) => {
      const img = [...document.images].find((i) => i.alt === text);
      return Boolean(img && img.complete && img.naturalWidth > 0);
    }, alt);
    const shot = await image.screenshot();
    const { width, height } = await sharp(shot).metadata();
    const middlePixels = await sharp(shot)
      .extract({
        left: Math.floor(width! / 4),
        top: Math.floor(height! / 4),
        width: Math.floor(width! / 2),
        height: Math.floor(height! / 2),
      })
      .png()
      .toBuffer();
    // stats() reads its input, not the pipeline before it: the middle is cut out first.
    const middle = await sharp(middlePixels).stats();
    // The test photos are one colour; initials (white letters on a hue drawn from the person's random
    // id, which may itself be red or green) are not, so they are never taken for a photo.
    if (middle.channels.some((c) => c.stdev > 25)) return 'other';
    const [r, g, b] = middle.channels.map((c) => c.mean) as [number, number, number];
    // Dominance, not exact values: the browser's colour management and the circular mask shift them.
    if (r > g + 80 && r > b + 80) return 'red';
    if (g > r + 60 && g > b + 40) return 'green';
    return 'other';
  }

  async function snapshot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(SCREENSHOTS, `e2e-${name}.png`), fullPage: true });
  }

  test('a new Mail photo reaches Sites only when its owner signs in and opens Sites or Files', async () => {
    const ada = (await t.services.directory.findPerson('ada.lovelace@contoso.example'))!;
    await t.services.mail.setPhoto(CLI_ACTOR, ada, await makePhoto('jpeg', 800, 800, { color: RED, marker: RED }), 'cli');

    // A colleague sees the placeholder: Sites has never copied Ada's photo.
    const grace = await privateWindow();
    await signIn(grace, 'grace.hopper@contoso.example');
    await openTile(grace, 'Sites');
    await snapshot(grace, '01-colleague-sees-placeholder');
    assert.equal(await colourOf(grace, "Ada Lovelace's photo"), 'other');

    // Ada, in a private window, signs in and opens Sites: her photo arrives in the same page load.
    const adaFirst = await privateWindow();
    await signIn(adaFirst, 'ada.lovelace@contoso.example');
    await snapshot(adaFirst, '02-home-tiles');
    await openTile(adaFirst, 'Sites');
    await snapshot(adaFirst, '03-person-opens-sites-and-sees-A');
    assert.equal(await colourOf(adaFirst, "Ada Lovelace's photo in Sites"), 'red');

    // She changes her photo to B in Mail.
    await adaFirst.goto(`${base}/`);
    await adaFirst.getByRole('link', { name: 'Add your profile photo' }).click();
    await adaFirst
      .getByLabel('Choose a photo')
      .setInputFiles({ name: 'b.jpg', mimeType: 'image/jpeg', buffer: await makePhoto('jpeg', 800, 800, { color: GREEN, marker: GREEN }) });
    await adaFirst.getByRole('img', { name: 'Preview of the chosen photo' }).waitFor();
    await adaFirst.getByRole('button', { name: 'Replace photo' }).click();
    await adaFirst.getByRole('status').filter({ hasText: 'Your photo is saved in Mail.' }).waitFor();
    await snapshot(adaFirst, '04-person-changes-photo-to-B-in-mail');
    assert.equal(await colourOf(adaFirst, 'Your current profile photo'), 'green');

    // The colleague still sees A: nothing syncs until Ada acts again.
    await grace.reload();
    await snapshot(grace, '05-colleague-still-sees-A');
    assert.equal(await colourOf(grace, "Ada Lovelace's photo"), 'red');

    // Ada signs in again in a fresh window and opens Files: B, for everyone.
    const adaAgain = await privateWindow();
    await signIn(adaAgain, 'ada.lovelace@contoso.example');
    await openTile(adaAgain, 'Files');
    await snapshot(adaAgain, '06-person-opens-files-and-sees-B');
    assert.equal(await colourOf(adaAgain, "Ada Lovelace's photo in Sites"), 'green');
    await grace.reload();
    await snapshot(grace, '07-colleague-sees-B');
    assert.equal(await colourOf(grace, "Ada Lovelace's photo"), 'green');

    // The info page tells Ada her own state.
    await adaAgain.goto(`${base}/about/photo-sync`);
    await adaAgain.getByText('In sync: Sites shows the same photo as Mail.').waitFor();
    await snapshot(adaAgain, '08-about-profile-photo-sync');

    assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
  });
});
