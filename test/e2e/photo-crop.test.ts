import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator } from 'playwright-core';
import sharp from 'sharp';
import { makePhoto, pixelAt } from '../support/images.ts';
import { browserSkip, launchChromium, privateWindow, signInAs } from '../support/browser.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

const ADA = 'ada.lovelace@contoso.example';
const BLUE = '#2050c0';
const RED = '#e02020';

type Box = { x: number; y: number; width: number; height: number };

/** Where the photo inside cropper.js sits on screen (its canvas moves and grows; the crop square stays). */
async function photoBox(cropArea: Locator): Promise<Box> {
  const box = await cropArea.locator('.cropper-canvas').boundingBox();
  assert.ok(box, 'the photo is shown in the crop area');
  return box;
}

function isRed([r, g, b]: [number, number, number]): boolean {
  return r > 180 && g < 90 && b < 90;
}
function isBlue([r, g, b]: [number, number, number]): boolean {
  return b > 150 && r < 90 && g < 120;
}

/** DESIGN.md rule 1 and issue 12: crop before upload, with keyboard controls; the server keeps what was chosen. */
describe('cropping a photo before upload, with the keyboard', { skip: browserSkip }, () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;

  before(async () => {
    t = await startTestApp('sqlite');
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    await t.addPerson(ADA);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test('arrows move, + and − zoom, r and R turn, and the saved photo is the turned square', async () => {
    const problems: string[] = [];
    const page = await privateWindow(browser, problems);
    await signInAs(page, base, ADA);
    await page.getByRole('link', { name: 'Add your profile photo' }).first().click();
    // Blue with a red top-left quadrant: where the red ends up shows how the photo was turned.
    await page
      .getByLabel('Choose a photo')
      .setInputFiles({ name: 'square.png', mimeType: 'image/png', buffer: await makePhoto('png', 400, 400, { color: BLUE, marker: RED }) });
    const cropArea = page.getByRole('group', { name: 'Crop the photo' });
    await cropArea.locator('.cropper-crop-box').waitFor();
    await cropArea.focus();

    // + zooms in, − zooms out.
    const start = await photoBox(cropArea);
    await page.keyboard.press('+');
    const zoomedIn = await photoBox(cropArea);
    assert.ok(zoomedIn.width > start.width * 1.05, `+ zooms in (${start.width} → ${zoomedIn.width} px)`);
    await page.keyboard.press('-');
    const zoomedOut = await photoBox(cropArea);
    assert.ok(zoomedOut.width < zoomedIn.width, `− zooms out (${zoomedIn.width} → ${zoomedOut.width} px)`);
    await page.keyboard.press('+');

    // Arrows move the photo under the crop square.
    const before = await photoBox(cropArea);
    await page.keyboard.press('ArrowLeft');
    const movedLeft = await photoBox(cropArea);
    assert.ok(movedLeft.x < before.x, `ArrowLeft moves the photo left (${before.x} → ${movedLeft.x})`);
    await page.keyboard.press('ArrowRight');
    const movedBack = await photoBox(cropArea);
    assert.ok(Math.abs(movedBack.x - before.x) < 1, 'ArrowRight moves it back');

    // r turns right twice, R (shift) turns left once: one quarter turn clockwise in all.
    await page.keyboard.press('r');
    await page.keyboard.press('r');
    await page.keyboard.press('Shift+R');
    await page.getByRole('button', { name: 'Upload photo' }).click();
    await page.getByRole('status').filter({ hasText: 'Your photo is saved in Mail.' }).waitFor();
    assert.deepEqual(problems, []);

    // What the server stored: the red quadrant turned from top left to top right.
    const ada = await t.services.directory.getPerson(ADA);
    const response = await t.app.inject({ method: 'GET', url: '/v1.0/me/photo/$value', headers: bearer(await t.tokenFor(ada)) });
    assert.equal(response.statusCode, 200);
    const stored = response.rawPayload;
    const { width = 0, height } = await sharp(stored).metadata();
    assert.equal(height, width, 'a square');
    const at = (fx: number, fy: number) => pixelAt(stored, Math.round(width * fx), Math.round(width * fy));
    assert.ok(isRed(await at(0.75, 0.25)), `top right is red: ${await at(0.75, 0.25)}`);
    assert.ok(isBlue(await at(0.25, 0.25)), `top left is blue: ${await at(0.25, 0.25)}`);
    assert.ok(isBlue(await at(0.75, 0.75)), `bottom right is blue: ${await at(0.75, 0.75)}`);
    assert.ok(isBlue(await at(0.25, 0.75)), `bottom left is blue: ${await at(0.25, 0.75)}`);
  });
});
