import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildHttpApp, createServices, type ServiceOverrides, type Services } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Person, Role } from '../../src/directory/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { createScratchPostgres, type DatabaseKind } from './databases.ts';

export const TEST_PASSWORD = 'correct horse battery staple';

export interface TestApp {
  app: FastifyInstance;
  services: Services;
  kind: DatabaseKind;
  env: Record<string, string>;
  addPerson(upn: string, options?: { role?: Role; password?: string }): Promise<Person>;
  /** A bearer token for the person, as `photosync tokens create` makes it. */
  tokenFor(person: Person): Promise<string>;
  /** Signs in through the real sign-in form and returns the cookies to send. */
  signIn(upn: string, password?: string): Promise<string>;
  close(): Promise<void>;
}

/** A real app on a fresh database of the given kind, with its own data directory. */
export async function startTestApp(
  kind: DatabaseKind,
  extraEnv: Record<string, string> = {},
  overrides: ServiceOverrides = {},
): Promise<TestApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-test-'));
  const postgres = kind === 'postgres' ? await createScratchPostgres() : undefined;
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    PUBLIC_URL: 'http://photosync.test',
    SIGNIN_ATTEMPTS_PER_MINUTE: '1000',
    ...(postgres && { DATABASE_URL: postgres.url }),
    ...extraEnv,
  };
  const services = await createServices(loadConfig(env), overrides);
  const app = await buildHttpApp(services);
  await app.ready();
  // Queued syncs (on-change, bulk runs) are taken as in a server; the tick is the test's to call.
  await services.syncAutomation.startWorkers({ tick: false });

  const testApp: TestApp = {
    app,
    services,
    kind,
    env,
    async addPerson(upn, options = {}) {
      const passwordHash = await services.identity.hashPassword(options.password ?? TEST_PASSWORD);
      return services.directory.addPerson({ userPrincipalName: upn, role: options.role ?? 'user', passwordHash });
    },
    async tokenFor(person) {
      return (await services.identity.createApiToken(CLI_ACTOR, person, 'test')).token;
    },
    async signIn(upn, password = TEST_PASSWORD) {
      const form = await app.inject({ method: 'GET', url: '/signin' });
      const csrfCookie = cookiesOf(form);
      const csrfToken = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1];
      const response = await app.inject({
        method: 'POST',
        url: '/signin',
        headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: csrfToken ?? '', username: upn, password }).toString(),
      });
      if (response.statusCode !== 303) throw new Error(`sign-in failed: ${response.statusCode} ${response.body}`);
      return [csrfCookie, cookiesOf(response)].filter(Boolean).join('; ');
    },
    async close() {
      await app.close();
      await services.close();
      await postgres?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return testApp;
}

/** The name=value pairs of a response's Set-Cookie headers, ready for a Cookie header. */
export function cookiesOf(response: LightMyRequestResponse): string {
  const header = response.headers['set-cookie'];
  const list = Array.isArray(header) ? header : header ? [header] : [];
  return list.map((c) => c.split(';')[0]!).join('; ');
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
