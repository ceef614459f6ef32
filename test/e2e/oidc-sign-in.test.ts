import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { photoContentEtag } from '../../src/mail/index.ts';
import { browserSkip, launchChromium, privateWindow, SCREENSHOTS } from '../support/browser.ts';
import { makePhoto } from '../support/images.ts';
import { startTestOpenIdProvider, type TestOpenIdProvider } from '../support/openid-provider.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** A free loopback port: the app's public URL (and so the redirect URI) must be known before it starts. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A page at a phone's and a laptop's width: nothing wider than the screen, no serious axe-core violation; a screenshot each. */
async function pageProblems(page: Page, name: string, url: string, status: number): Promise<string[]> {
  const found: string[] = [];
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    const response = await page.goto(url);
    assert.equal(response?.status(), status, url);
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    if (widths.scroll > widths.inner) found.push(`${name} at ${width}px is ${widths.scroll}px wide`);
    await page.evaluate(AXE_SOURCE);
    const violations = await page.evaluate(async () => {
      const axe = (
        window as unknown as { axe: { run(context: Document): Promise<{ violations: { id: string; impact: string | null }[] }> } }
      ).axe;
      return (await axe.run(document)).violations.map((v) => ({ id: v.id, impact: v.impact }));
    });
    for (const v of violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'))
      found.push(`${name} at ${width}px: axe ${v.impact} ${v.id}`);
    await page.screenshot({ path: path.join(SCREENSHOTS, `page-${name}-${width}.png`), fullPage: true });
  }
  return found;
}

describe('OIDC sign-in in a real browser against a real OpenID Provider', { skip: browserSkip }, () => {
  let provider: TestOpenIdProvider;
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let picture: Buffer;

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    provider = await startTestOpenIdProvider({
      redirectUris: [`${base}/signin/oidc/callback`],
      postLogoutRedirectUris: [`${base}/signin`],
    });
    t = await startTestApp('sqlite', {
      PUBLIC_URL: base,
      OIDC_ISSUER: provider.issuer,
      OIDC_CLIENT_ID: provider.clientId,
      OIDC_CLIENT_SECRET: provider.clientSecret,
      OIDC_ALLOWED_DOMAINS: 'contoso.example',
      OIDC_BUTTON_LABEL: 'Sign in with Contoso',
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    await t.addPerson('ada.lovelace@contoso.example');
    picture = await makePhoto('jpeg', 400, 400, { color: '#2050a0' });
    provider.files.set('/pictures/ada.jpg', { body: picture });
    provider.accounts.set('ada', {
      preferred_username: 'ada.lovelace@contoso.example',
      name: 'Ada Lovelace',
      email: 'ada.lovelace@contoso.example',
      picture: `${provider.issuer}/pictures/ada.jpg`,
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    await provider?.close();
  });

  test('the sign-in button leads to the provider, and back into the portal signed in', async () => {
    const problems: string[] = [];
    const page = await privateWindow(browser, problems);
    await page.goto(`${base}/`);
    await page.getByRole('link', { name: 'Sign in with Contoso' }).click();
    await page.waitForURL(`${provider.issuer}/interaction/**`);
    await page.getByLabel('User name').fill('ada');
    await page.getByRole('button', { name: 'Sign in at the provider' }).click();
    await page.getByRole('heading', { name: 'Hello, Ada Lovelace' }).waitFor();
    assert.equal(new URL(page.url()).origin, base);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'oidc-signed-in.png') });

    await t.services.oidc!.picturesSettled();
    const person = await t.services.directory.getPerson('ada.lovelace@contoso.example');
    assert.equal(
      (await t.services.mail.currentVersion(person))?.etag,
      photoContentEtag(picture),
      'the picture claim filled the empty Mail photo',
    );

    // With the provider authoritative for photos, the Mail page says where to change it instead of offering a form.
    await t.services.directoryPhotos.setPolicy(CLI_ACTOR, 'oidc', 'authoritative');
    assert.deepEqual(await pageProblems(page, 'mail-photo-managed', `${base}/mail/photo`, 200), []);
    await page.getByText("Your photo is managed by the organization's directory").waitFor();
    assert.equal(await page.locator('#photo-form').count(), 0);
    await t.services.directoryPhotos.setPolicy(CLI_ACTOR, 'oidc', 'fill-when-empty');

    // Sign-out ends the provider's session too: the browser goes to its end_session_endpoint.
    await page.locator('details.account summary').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${provider.issuer}/session/end**`);
    assert.ok(provider.requests.some((r) => r.startsWith('GET /session/end?') && r.includes('id_token_hint=')));
    assert.deepEqual(
      problems.filter((p) => p.includes(base)),
      [],
      "no console errors or CSP violations on photosync's pages",
    );
    await page.context().close();
  });

  test('the sign-in page with its button and the page of a failed sign-in fit a phone and pass axe-core', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const found = [
      ...(await pageProblems(page, 'signin-oidc', `${base}/signin`, 200)),
      ...(await pageProblems(page, 'oidc-failed', `${base}/signin/oidc/callback?code=x&state=forged`, 400)),
    ];
    assert.deepEqual(found, []);
    await context.close();
  });
});
