import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TEST_PASSWORD } from './test-app.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.resolve('test-results');

const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium && process.env.CI)
  throw new Error(`Chromium is required in CI but ${CHROMIUM} is missing (.ci/run installs Debian's chromium).`);
/** Why the browser tests are skipped here (Debian's chromium is missing), or false when they run. */
export const browserSkip: string | false = haveChromium
  ? false
  : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); browser tests skipped`;
if (browserSkip) console.log(`# ${browserSkip}`);

export async function launchChromium(): Promise<Browser> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A private window: a context with no cookies, as a fresh browser session is. Console errors, page errors and CSP violations land in `problems`. */
export async function privateWindow(browser: Browser, problems: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return page;
}

/** Signs in through the real form, as a person does. */
export async function signInAs(page: Page, base: string, upn: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('User name').fill(upn);
  await page.getByLabel('Password').fill(TEST_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: /^Hello, / }).waitFor();
}
