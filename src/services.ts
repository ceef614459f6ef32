import { AuditLog } from './audit/index.ts';
import { BulkRunRegistry } from './bulk-run.ts';
import type { Config } from './config.ts';
import { DirectoryService, PeopleStore } from './directory/index.ts';
import { CredentialStore, IdentityService } from './identity/index.ts';
import { ImageWorkQueue } from './imaging/index.ts';
import { MailPhotoService, PhotoImporter, PhotoStore } from './mail/index.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { SitesService, SiteStore } from './sites/index.ts';
import { openDatabase, type Database } from './storage/index.ts';
import {
  mailPhotoSource,
  createSyncJobQueue,
  SyncAdministration,
  SyncAutomation,
  SyncEngine,
  SyncRunStore,
  SyncSettingsStore,
  SyncStatusStore,
  UserInitiatedTrigger,
  type SyncJobHandlers,
} from './sync/index.ts';

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
  metrics.countPeopleBySyncStateWith(() => syncStatus.countByState());
  // The queue calls back into the automation, which needs the queue: the handlers close over it.
  let syncAutomation: SyncAutomation | undefined;
  const handlers: SyncJobHandlers = { sync: (job) => syncAutomation!.runJob(job), tick: () => syncAutomation!.tick() };
  const queue = await createSyncJobQueue(database.sqlExecutor, handlers, {
    concurrency: config.syncConcurrency,
    setupLock: processes.withLock,
    ...(overrides.retryDelayMs !== undefined && { retryDelayMs: overrides.retryDelayMs }),
  });
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
