import { randomUUID } from 'node:crypto';
import http from 'node:http';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifySchema } from 'fastify';
import { SCHEMA_VALIDATION } from './http/index.ts';
import { createRequestAuthentication, csrfBinding } from './identity/index.ts';
import { registerGraphPhotoRoutes } from './mail/index.ts';
import type { Services } from './services.ts';
import { lowerCaseApiPath, registerSharePointRoutes } from './sites/index.ts';
import { registerAdminAuditPage } from './web/admin-audit-page.ts';
import { registerAdminDirectoryPage } from './web/admin-directory-page.ts';
import { registerDirectorySyncRoutes, renderDirectorySyncReport } from './web/admin-directory-sync-section.ts';
import { apiDocsUiOptions } from './web/api-docs/api-docs-ui-options.ts';
import { registerAdminImportPages, renderImportReport } from './web/admin-import-pages.ts';
import { registerAdminPeoplePages } from './web/admin-people-pages.ts';
import { registerAdminSyncPages } from './web/admin-sync-pages.ts';
import { registerAssetRoutes } from './web/asset-routes.ts';
import { registerBulkRunPages } from './web/bulk-run-pages.ts';
import { registerErrorHandling, sendFrameworkError } from './web/error-handler.ts';
import { oidcSignOutRedirect, registerOidcRoutes } from './web/oidc-routes.ts';
import { registerOperationsRoutes } from './web/operations-routes.ts';
import { labelledChildren } from './metrics.ts';
import { createPhotoFastPath } from './web/photo-fast-path.ts';
import { apiSecurityHeaders, registerSecurityHeaders } from './web/security-headers.ts';
import { registerPortalRoutes } from './web/portal-routes.ts';
import { registerSitesPages } from './web/sites-pages.ts';

// The services stand alone (the CLI needs them without the web server's code); re-exported for callers of both.
export { createServices, type Services, type ServiceOverrides } from './services.ts';

export interface RegisteredRoute {
  method: string;
  url: string;
  /** What the route declared (params, querystring, body, response, …), so a test can hold every route to having one. */
  schema: FastifySchema | undefined;
}
const routesOfApps = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route the app registered (so a test can prove each one has an access rule). */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return routesOfApps.get(app) ?? [];
}

/** The HTTP face of the services: security plugins, error mapping, then each domain's routes. */
export async function buildHttpApp(services: Services): Promise<FastifyInstance> {
  const { config, metrics } = services;
  const secureCookies = config.publicUrl.protocol === 'https:';
  const answerFromMemory = createPhotoFastPath({
    identity: services.identity,
    directory: services.directory,
    mail: services.mail,
    sites: services.sites,
    securityHeaders: apiSecurityHeaders({ https: secureCookies }),
    answerCount: (route, status) => metrics.fastPhotoReadCounts.cell({ route, status: String(status) }),
  });
  const requestTimeout = 60_000;
  const app = Fastify({
    // Hot photo reads are answered from memory before routing when they can be; the rest come here.
    serverFactory: (handler) => {
      const server = http.createServer((request, response) => {
        if (!answerFromMemory(request, response)) handler(request, response);
      });
      // What fastify sets on a server it makes itself.
      server.keepAliveTimeout = 72_000;
      server.requestTimeout = requestTimeout;
      return server;
    },
    // The services' logger: request lines and background failures share one stream and level.
    loggerInstance: services.log as FastifyBaseLogger,
    // One line per request from our onResponse hook instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    trustProxy: config.trustProxy,
    // Upload routes read their own bodies with a cap; this bounds every other parser.
    bodyLimit: 1024 * 1024,
    // A client that stops sending mid-body is cut off (408) instead of holding its connection forever.
    requestTimeout,
    // User ids and UPNs in paths may be long; longer ones get a clear 400 in Graph's error body.
    routerOptions: { maxParamLength: 1000 },
    // SharePoint's `/_api/` paths in any case reach their lower-case routes.
    rewriteUrl: (request) => lowerCaseApiPath(request.url ?? '/'),
    // Every route's params, query, form and headers are checked by its schema; a failure is a 400 in words.
    ...SCHEMA_VALIDATION,
    frameworkErrors: (error, request, reply) => sendFrameworkError(error, request, reply),
  });
  const auth = createRequestAuthentication(services.identity, { secureCookies, sessionLifetimeHours: config.sessionLifetimeHours });
  // Error pages show who is signed in, like every other page.
  registerErrorHandling(app, { auth });
  const routes: RegisteredRoute[] = [];
  routesOfApps.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of ([] as string[]).concat(route.method)) routes.push({ method, url: route.url, schema: route.schema });
  });

  registerSecurityHeaders(app, { https: secureCookies, formTargets: config.oidc ? [config.oidc.issuer.origin] : [] });
  const logEachRequest = ['info', 'debug', 'trace'].includes(config.logLevel);
  // Callback-style hooks: on hot reads an async hook's extra promise per request is measurable.
  const requestTimer = labelledChildren((method, route, status) => metrics.httpRequestSeconds.labels(method, route, status));
  app.addHook('onResponse', (request, reply, done) => {
    requestTimer(request.method, request.routeOptions.url ?? 'unmatched', String(reply.statusCode)).observe(reply.elapsedTime / 1000);
    if (logEachRequest) {
      request.log.info(
        { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
        'request',
      );
    }
    done();
  });

  await app.register(cookie);
  await app.register(csrf, {
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: secureCookies },
    getToken: (request) => formToken(request.body),
    // Each token is bound to the browser's session (csrfToken() in page-rendering makes them so).
    getUserInfo: csrfBinding,
    csrfOpts: { hmacKey: await services.identity.csrfKey() },
  });
  await app.register(rateLimit, { global: false });
  await app.register(formbody, { bodyLimit: 64 * 1024 });
  await app.register(swagger, {
    openapi: {
      info: { title: 'photosync', version: '0.1.0', description: 'Microsoft Graph-compatible profile photo API and operations endpoints.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, apiDocsUiOptions({ https: secureCookies }));

  await app.register(registerOperationsRoutes, { database: services.database, metrics, auth, metricsToken: config.metricsToken });
  await app.register(registerAssetRoutes);
  await app.register(registerPortalRoutes, {
    identity: services.identity,
    mail: services.mail,
    auth,
    signInAttemptsPerMinute: config.signInAttemptsPerMinute,
    syncMode: () => services.syncAutomation.currentMode(),
    signInMethods: { oidcButtonLabel: services.oidc?.buttonLabel, localPasswords: config.localPasswords },
    signOutRedirect: (request, reply) => oidcSignOutRedirect(services.oidc, request, reply),
  });
  await app.register(registerOidcRoutes, {
    oidc: services.oidc,
    auth,
    secureCookies,
    signInAttemptsPerMinute: config.signInAttemptsPerMinute,
  });
  await app.register(registerGraphPhotoRoutes, { mail: services.mail, directory: services.directory, auth, publicUrl: config.publicUrl });
  await app.register(registerSitesPages, {
    directory: services.directory,
    sites: services.sites,
    sync: services.sync,
    trigger: services.userInitiatedTrigger,
    auth,
    syncMode: () => services.syncAutomation.currentMode(),
  });
  await app.register(registerSharePointRoutes, {
    sites: services.sites,
    directory: services.directory,
    auth,
    publicUrl: config.publicUrl,
    onPhotoRequested: (viewer, target, size) => services.userInitiatedTrigger.onSitesPhotoRequested(viewer, target, size),
  });
  await app.register(registerAdminSyncPages, { directory: services.directory, syncAdmin: services.syncAdmin, auth });
  await app.register(registerAdminImportPages, { photoImporter: services.photoImporter, auth });
  await app.register(registerAdminAuditPage, { audit: services.audit, auth });
  await app.register(registerAdminDirectoryPage, {
    directoryPhotos: services.directoryPhotos,
    directorySync: services.directorySync,
    auth,
  });
  await app.register(registerDirectorySyncRoutes, { directorySync: services.directorySync, auth });
  await app.register(registerAdminPeoplePages, { directory: services.directory, people: services.people, auth });
  await app.register(registerBulkRunPages, {
    syncAdmin: services.syncAdmin,
    auth,
    finishedRunDetails: async (actor, run) => {
      if (run.kind === 'directory') {
        const report = await services.directorySync.findReport(actor, run.id);
        return report && renderDirectorySyncReport(report);
      }
      const report = run.kind === 'import' ? await services.photoImporter.findReport(actor, run.id) : undefined;
      return report && renderImportReport(report);
    },
  });
  return app;
}

/** A form's CSRF token (`_csrf`). It is checked before the form's schema, so the body is still unknown here. */
function formToken(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('_csrf' in body)) return undefined;
  return typeof body._csrf === 'string' ? body._csrf : undefined;
}
