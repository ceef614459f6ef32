import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { AuditLog } from './audit/index.ts';
import { BulkRunRegistry } from './bulk-run.ts';
import type { Config } from './config.ts';
import { DirectoryService, PeopleStore } from './directory/index.ts';
import { ImageWorkQueue } from './imaging/index.ts';
import { CredentialStore, IdentityService, createRequestAuthentication } from './identity/index.ts';
import { MailPhotoService, PhotoImporter, PhotoStore, registerGraphPhotoRoutes } from './mail/index.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { registerSharePointRoutes, SitesService, SiteStore } from './sites/index.ts';
import { openDatabase, type Database } from './storage/index.ts';
import {
  InProcessSyncQueue,
  mailPhotoSource,
  PgBossSyncQueue,
  SyncAdministration,
  SyncAutomation,
  SyncEngine,
  SyncRunStore,
  SyncSettingsStore,
  SyncStatusStore,
  UserInitiatedTrigger,
  type SyncJobHandlers,
} from './sync/index.ts';
import { TtlCache } from './ttl-cache.ts';
import { registerAdminAuditPage } from './web/admin-audit-page.ts';
import { registerAdminImportPages, renderImportReport } from './web/admin-import-pages.ts';
import { registerAdminSyncPages } from './web/admin-sync-pages.ts';
import { registerAssetRoutes } from './web/asset-routes.ts';
import { registerBulkRunPages } from './web/bulk-run-pages.ts';
import { registerErrorHandling } from './web/error-handler.ts';
import { registerOperationsRoutes } from './web/operations-routes.ts';
import { registerSecurityHeaders } from './web/security-headers.ts';
import { registerPortalRoutes } from './web/portal-routes.ts';
import { registerSitesPages } from './web/sites-pages.ts';

export interface Services {
  config: Config;
  database: Database;
  metrics: Metrics;
  directory: DirectoryService;
  identity: IdentityService;
  mail: MailPhotoService;
  sites: SitesService;
  sync: SyncEngine;
  userInitiatedTrigger: UserInitiatedTrigger;
  audit: AuditLog;
  syncStatus: SyncStatusStore;
  syncAutomation: SyncAutomation;
  syncAdmin: SyncAdministration;
  photoImporter: PhotoImporter;
  /** Stops the background work (waiting for running syncs), then closes the database. */
  close(): Promise<void>;
}

export interface ServiceOverrides {
  now?: () => Date;
  /** Invoked when a photo-change listener fails; the server logs it. */
  onListenerError?: (error: unknown) => void;
  /** Tests shorten the in-process queue's retry backoff. */
  retryDelayMs?: number;
}

/** The composition root: every service, built by hand from the configuration. */
export async function createServices(config: Config, overrides: ServiceOverrides = {}): Promise<Services> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, sqliteFile: config.sqliteFile });
  const now = overrides.now;
  const metrics = createMetrics();
  const imageWork = new ImageWorkQueue(config.imageConcurrency, config.uploadQueueLength);
  const audit = new AuditLog(database.db, now);
  const runs = new BulkRunRegistry();
  const directory = new DirectoryService(new PeopleStore(database.db), now);
  // Several processes on one PostgreSQL database tell each other what changed (LISTEN/NOTIFY).
  const { processes } = database;
  const identity = new IdentityService(new CredentialStore(database.db), directory, {
    sessionTtlHours: config.sessionTtlHours,
    audit,
    onTokenRevoked: () => processes.publish('tokens', '*'),
    ...(now && { now }),
  });
  const mail = new MailPhotoService(new PhotoStore(database.db), {
    metrics,
    audit,
    imageWork,
    ...(now && { now }),
    ...(overrides.onListenerError && { onListenerError: overrides.onListenerError }),
  });
  const sites = new SitesService(new SiteStore(database.db), directory, {
    publicUrl: config.publicUrl,
    audit,
    onSwapped: (personId) => processes.publish('sites', personId),
    ...(now && { now }),
  });
  const sync = new SyncEngine(mailPhotoSource(mail), sites, new SyncRunStore(database.db), {
    ...(now && { now }),
    imageWork,
    crossProcessLock: processes.withLock,
    onRun: (run) => {
      metrics.syncRuns.inc({ trigger: run.trigger, outcome: run.outcome });
      metrics.syncSeconds.observe(run.durationMs / 1000);
    },
  });
  const userInitiatedTrigger = new UserInitiatedTrigger(sync, {
    allSizesTrigger: config.syncOnAnyThumbnailSize,
    sessionRecheckMinutes: config.syncSessionRecheckMinutes,
  });

  const syncSettings = new SyncSettingsStore(database.db, { mode: config.syncMode, intervalMinutes: config.syncIntervalMinutes }, now, () => processes.publish('settings', '*'));
  mail.onPhotoChanged((change) => processes.publish('mail', change.personId));
  processes.subscribe('mail', (personId) => mail.forgetCachedPhoto(personId));
  processes.subscribe('sites', (personId) => sites.forgetCachedThumbnails(personId));
  processes.subscribe('tokens', () => identity.forgetCachedTokens());
  processes.subscribe('settings', () => syncSettings.forgetCached());
  const syncStatus = new SyncStatusStore(database.db);
  const stateCounts = new TtlCache<string, Record<string, number>>(15_000, 1);
  metrics.countPeopleBySyncStateWith(() => stateCounts.getOrLoad('counts', () => syncStatus.countByState()));
  // The queue calls back into the automation, which needs the queue: the handlers close over it.
  let syncAutomation: SyncAutomation | undefined;
  const handlers: SyncJobHandlers = { sync: (job) => syncAutomation!.runJob(job), tick: () => syncAutomation!.tick() };
  const queue = database.sqlExecutor
    ? new PgBossSyncQueue(database.sqlExecutor, handlers, { concurrency: config.syncConcurrency })
    : new InProcessSyncQueue(handlers, { concurrency: config.syncConcurrency, ...(overrides.retryDelayMs !== undefined && { retryDelayMs: overrides.retryDelayMs }) });
  syncAutomation = new SyncAutomation(sync, directory, syncSettings, syncStatus, queue);
  mail.onPhotoChanged((change) => syncAutomation.onPhotoChanged(change));
  const syncAdmin = new SyncAdministration(sync, directory, syncSettings, syncStatus, runs, audit, config.syncConcurrency);
  const photoImporter = new PhotoImporter(mail, directory, runs, audit, config.syncConcurrency);

  return {
    config,
    database,
    metrics,
    directory,
    identity,
    mail,
    sites,
    sync,
    userInitiatedTrigger,
    audit,
    syncStatus,
    syncAutomation,
    syncAdmin,
    photoImporter,
    async close() {
      await syncAutomation.stop();
      await database.close();
    },
  };
}

export interface RegisteredRoute {
  method: string;
  url: string;
}
const routesOfApps = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route the app registered (so a test can prove each one has an access rule). */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return routesOfApps.get(app) ?? [];
}

/** The HTTP face of the services: security plugins, error mapping, then each domain's routes. */
export async function buildHttpApp(services: Services): Promise<FastifyInstance> {
  const { config, metrics } = services;
  const app = Fastify({
    logger: { level: config.logLevel },
    // One line per request from our onResponse hook instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    trustProxy: config.trustProxy,
    // Upload routes read their own bodies with a cap; this bounds every other parser.
    bodyLimit: 1024 * 1024,
  });
  registerErrorHandling(app);
  const routes: RegisteredRoute[] = [];
  routesOfApps.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of ([] as string[]).concat(route.method)) routes.push({ method, url: route.url });
  });

  const secureCookies = config.publicUrl.protocol === 'https:';
  registerSecurityHeaders(app, { https: secureCookies });
  const logEachRequest = ['info', 'debug', 'trace'].includes(config.logLevel);
  // Callback-style hooks: on hot reads an async hook's extra promise per request is measurable.
  const requestTimers = new Map<string, { observe(seconds: number): void }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    // One labelled child per route and status, found by a plain string key (prom-client hashes label objects).
    const key = `${request.method} ${route} ${reply.statusCode}`;
    let timer = requestTimers.get(key);
    if (!timer) {
      timer = metrics.httpRequestSeconds.labels(request.method, route, String(reply.statusCode));
      requestTimers.set(key, timer);
    }
    timer.observe(reply.elapsedTime / 1000);
    if (logEachRequest) {
      request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    }
    done();
  });

  await app.register(cookie);
  await app.register(csrf, {
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: secureCookies },
    getToken: (request) => (request.body as Record<string, unknown> | undefined)?._csrf as string | undefined,
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
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });

  const auth = createRequestAuthentication(services.identity, { secureCookies, sessionTtlHours: config.sessionTtlHours });
  await app.register(registerOperationsRoutes, { database: services.database, metrics });
  await app.register(registerAssetRoutes);
  await app.register(registerPortalRoutes, {
    identity: services.identity,
    mail: services.mail,
    auth,
    signInAttemptsPerMinute: config.signInAttemptsPerMinute,
  });
  await app.register(registerGraphPhotoRoutes, { mail: services.mail, directory: services.directory, auth, publicUrl: config.publicUrl });
  await app.register(registerSitesPages, { directory: services.directory, sites: services.sites, sync: services.sync, trigger: services.userInitiatedTrigger, auth, syncMode: () => services.syncAutomation.currentMode() });
  await app.register(registerSharePointRoutes, {
    sites: services.sites,
    mail: services.mail,
    directory: services.directory,
    auth,
    publicUrl: config.publicUrl,
    onPhotoRequested: (viewer, target, size) => services.userInitiatedTrigger.onSitesPhotoRequested(viewer, target, size),
    onProfilePictureSet: async (person) => {
      await services.sync.syncProfilePhoto(person, 'set-my-profile-picture');
    },
  });
  await app.register(registerAdminSyncPages, { directory: services.directory, syncAdmin: services.syncAdmin, auth });
  await app.register(registerAdminImportPages, { photoImporter: services.photoImporter, auth });
  await app.register(registerAdminAuditPage, { audit: services.audit, auth });
  await app.register(registerBulkRunPages, {
    syncAdmin: services.syncAdmin,
    auth,
    finishedRunDetails: (actor, run) => {
      const report = run.kind === 'import' ? services.photoImporter.findReport(actor, run.id) : undefined;
      return report && renderImportReport(report);
    },
  });
  return app;
}
