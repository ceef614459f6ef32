import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkip, launchChromium, privateWindow } from '../support/browser.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

interface OpenApiOperation {
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, unknown>;
}
type OpenApiDocument = { paths: Record<string, Record<string, OpenApiOperation>> };

const PEOPLE_MANAGER = '/_api/SP.UserProfiles.PeopleManager';

/** DESIGN.md, Operations: the OpenAPI document and UI at /docs — photosync's own, listing what clients call. */
describe('the API documentation at /docs', () => {
  let t: TestApp;
  let browser: Browser | undefined;
  let base: string;

  before(async () => {
    t = await startTestApp('sqlite');
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test('the OpenAPI document lists the three PeopleManager calls with their parameters and bodies, not a catch-all', async () => {
    const response = await t.app.inject({ url: '/docs/json' });
    assert.equal(response.statusCode, 200);
    const { paths } = response.json<OpenApiDocument>();
    assert.equal(
      Object.keys(paths).some((p) => p.startsWith('/_api/{')),
      false,
      'no /_api/{*} catch-all',
    );

    const mine = paths[`${PEOPLE_MANAGER}/GetMyProperties`]?.get;
    assert.ok(mine?.responses['200'], 'GetMyProperties');
    // One route for every form of the call: `(accountName=@v)`, PnPjs's `(@v)`, the name inline.
    const theirs = paths[`${PEOPLE_MANAGER}/GetPropertiesFor{argument}`]?.get;
    assert.ok(
      theirs?.parameters?.some((p) => p.name === 'argument' && p.in === 'path' && p.required),
      'GetPropertiesFor takes its argument',
    );
    assert.ok(
      theirs?.parameters?.some((p) => p.name === '@v' && p.in === 'query'),
      'GetPropertiesFor takes @v',
    );
    const set = paths[`${PEOPLE_MANAGER}/SetMyProfilePicture`]?.post;
    assert.deepEqual(Object.keys(set?.requestBody?.content ?? {}).sort(), ['image/bmp', 'image/jpeg', 'image/png']);
    assert.ok(set?.parameters?.some((p) => p.name === 'X-RequestDigest' && p.in === 'header'));
  });

  test(
    '/docs is branded photosync, loads without a console or content-policy error, and leads back to the portal',
    { skip: browserSkip },
    async () => {
      browser = await launchChromium();
      const problems: string[] = [];
      const page = await privateWindow(browser, problems);
      // Chromium reports a blocked inline style on the console too; the event says which directive.
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (event) =>
          console.error(`CSP violation: ${event.violatedDirective} ${event.sourceFile}:${event.lineNumber}`),
        );
      });
      const response = await page.goto(`${base}/docs`);
      assert.equal(response?.status(), 200);
      assert.doesNotMatch(response?.headers()['content-security-policy'] ?? '', /unsafe-inline|https:/, 'the strict page policy, no CDN');
      await page.getByText(`${PEOPLE_MANAGER}/SetMyProfilePicture`, { exact: true }).waitFor();
      assert.match(await page.title(), /photosync/);
      assert.equal(await page.getByText(/fastify|swagger/i).count(), 0, 'no fastify or Swagger branding');

      // A PeopleManager call opens with its parameter, as a person trying it out needs it.
      await page.getByText(`${PEOPLE_MANAGER}/GetPropertiesFor{argument}`, { exact: true }).click();
      await page.locator('.parameter__name', { hasText: '@v' }).waitFor();
      await page.waitForLoadState('networkidle');
      assert.deepEqual(problems, []);

      await page.getByRole('link', { name: 'Back to the portal' }).click();
      // The portal (its sign-in form, for someone not signed in).
      await page.getByLabel('User name').waitFor();
      assert.doesNotMatch(new URL(page.url()).pathname, /^\/docs/);
    },
  );
});
