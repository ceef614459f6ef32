import { pino, type Logger } from 'pino';
import { AuditLog } from './audit/index.ts';
import type { Config } from './config.ts';
import { DirectoryService, PeopleStore } from './directory/index.ts';
import { DirectorySync, LdapEntryStore } from './directory-sync/index.ts';
import { DirectoryPhotoIntake, DirectoryPhotoStore } from './directory-photos/index.ts';
import { CredentialStore, IdentityService } from './identity/index.ts';
import { ImageWorkQueue } from './imaging/index.ts';
import { MailPhotoService, PhotoImporter, PhotoStore } from './mail/index.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { OidcSignIn, OidcSignInStore } from './oidc/index.ts';
import { PeopleLifecycle, PeopleSettingsStore } from './people/index.ts';
import { SitesService, SiteStore } from './sites/index.ts';
import { BulkRuns } from './runs/index.ts';
import { openDatabase, type Database } from './storage/index.ts';
import {
  mailPhotoSource,
  createSyncJobQueue,
  SyncAdministration,
  SyncAutomation,
  SyncEngine,
  SyncRequests,
  SyncRunStore,
  SyncSettingsStore,
  SyncStatusStore,
  UserInitiatedTrigger,
} from './sync/index.ts';

export interface Services {
  config: Config;
  /** The process's logger; each service logs through a child named after it. */
  log: Logger;
  database: Database;
  metrics: Metrics;
  directory: DirectoryService;
  identity: IdentityService;
  mail: MailPhotoService;
  sites: SitesService;
  sync: SyncEngine;
  syncRequests: SyncRequests;
  userInitiatedTrigger: UserInitiatedTrigger;
  audit: AuditLog;
  syncStatus: SyncStatusStore;
  syncAutomation: SyncAutomation;
  syncAdmin: SyncAdministration;
  photoImporter: PhotoImporter;
  runs: BulkRuns;
  /** Adding, disabling, enabling and removing people; passwords set and reset by admins. */
  people: PeopleLifecycle;
  /** Photos from the organization's directories (LDAP, OIDC), per the admin's policy for each. */
  directoryPhotos: DirectoryPhotoIntake;
  /** People and their photos from the LDAP directory (LDAP_*): on demand and on a schedule. */
  directorySync: DirectorySync;
  /** Sign-in through the organization's OpenID Provider; undefined when OIDC is not configured. */
  oidc: OidcSignIn | undefined;
  /** Stops the background work (waiting for running syncs), then closes the database. */
  close(): Promise<void>;
}

export interface ServiceOverrides {
  now?: () => Date;
  /** Where the services log (default: JSON lines on standard output at the configured level). */
  logger?: Logger;
  /** Tests shorten the in-process queue's retry backoff. */
  retryDelayMs?: number;
}

/** The composition root: every service, built by hand from the configuration. */
export async function createServices(config: Config, overrides: ServiceOverrides = {}): Promise<Services> {
  const log = overrides.logger ?? pino({ level: config.logLevel });
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    sqliteFile: config.sqliteFile,
    log: log.child({ service: 'storage' }),
  });
  const now = overrides.now;
  const metrics = createMetrics();
  const imageWork = new ImageWorkQueue(config.imageConcurrency, config.uploadQueueLength);
  const audit = new AuditLog(database.db, now);
  const runs = new BulkRuns(database.db, { ...(now && { now }) });
  const directory = new DirectoryService(new PeopleStore(database.db), now);
  // Several processes on one PostgreSQL database tell each other what changed (LISTEN/NOTIFY).
  const { processes } = database;
  // A notice that does not go out leaves the other processes' caches stale for their short lifetime.
  const tellOthers = (topic: string, key: string) =>
    processes
      .publish(topic, key)
      .catch((error: unknown) =>
        log.warn(
          { err: error, topic, key },
          'could not tell the other server processes about a change; their caches expire within seconds',
        ),
      );
  const identity = new IdentityService(new CredentialStore(database.db), directory, {
    sessionTtlHours: config.sessionTtlHours,
    sessionLifetimeHours: config.sessionLifetimeHours,
    audit,
    onCredentialsEnded: () => tellOthers('credentials', '*'),
    localPasswords: config.localPasswords,
    ...(now && { now }),
  });
  const mail = new MailPhotoService(new PhotoStore(database.db), {
    metrics,
    audit,
    imageWork,
    ...(now && { now }),
    onListenerError: (error, change) =>
      log
        .child({ service: 'mail' })
        .error({ err: error, personId: change.personId, change: change.kind }, 'a photo-change listener failed after the change committed'),
  });
  const sites = new SitesService(new SiteStore(database.db), directory, {
    publicUrl: config.publicUrl,
    audit,
    onSwapped: (personId) => tellOthers('sites', personId),
    // SetMyProfilePicture: the picture goes to Mail, and the person's sync runs at once so Sites shows
    // it when the call returns (syncRequests exists by the time anyone calls).
    profilePictures: {
      assertAccepted: (actor) => mail.assertUploadAccepted(actor, actor.person),
      store: async (actor, picture, limits) => {
        await mail.setPhoto(actor, actor.person, picture, 'sites', limits);
        await syncRequests.syncNow(actor.person, 'set-my-profile-picture', { afterChange: true });
      },
    },
    ...(now && { now }),
  });
  const sync = new SyncEngine(mailPhotoSource(mail), sites, new SyncRunStore(database.db), {
    ...(now && { now }),
    imageWork,
    crossProcessLock: processes.withLock,
    log: log.child({ service: 'sync' }),
    onRun: (run) => {
      metrics.syncRuns.inc({ trigger: run.trigger, outcome: run.outcome });
      metrics.syncSeconds.observe(run.durationMs / 1000);
    },
  });

  const syncSettings = new SyncSettingsStore(database.db, { mode: config.syncMode, intervalMinutes: config.syncIntervalMinutes }, now, () =>
    tellOthers('settings', '*'),
  );
  mail.onPhotoChanged((change) => tellOthers('mail', change.personId));
  processes.subscribe('mail', (personId) => mail.forgetCachedPhoto(personId));
  processes.subscribe('sites', (personId) => sites.forgetCachedThumbnails(personId));
  processes.subscribe('credentials', () => identity.forgetCachedCredentials());
  // Someone was disabled, enabled, removed or changed: every cache holding people forgets them.
  processes.subscribe('people', () => {
    directory.forgetCachedPeople();
    identity.forgetCachedCredentials();
    sites.forgetCachedPictureFiles();
  });
  const directoryPhotos = new DirectoryPhotoIntake(new DirectoryPhotoStore(database.db), mail, directory, {
    audit,
    log: log.child({ service: 'directory-photos' }),
    imageWork,
    ...(now && { now }),
    onPolicySaved: () => tellOthers('settings', '*'),
  });
  processes.subscribe('settings', () => {
    syncSettings.forgetCached();
    directoryPhotos.forgetCached();
  });
  const syncStatus = new SyncStatusStore(database.db);
  metrics.countPeopleBySyncStateWith(() => syncStatus.countByState());
  // The queue calls back into the automation, which needs the queue: the handler closes over it.
  let syncAutomation: SyncAutomation | undefined;
  const queue = await createSyncJobQueue(database.db, database.sqlExecutor, (job) => syncAutomation!.runJob(job), {
    concurrency: config.syncConcurrency,
    log: log.child({ service: 'sync-queue' }),
    setupLock: processes.withLock,
    ...(now && { now }),
    ...(overrides.retryDelayMs !== undefined && { retryDelayMs: overrides.retryDelayMs }),
  });
  // A committed change (here or in another process) or a new bulk run: workers look at once.
  processes.subscribe('mail', () => queue.wake());
  processes.subscribe('sync-jobs', () => queue.wake());
  const syncRequests = new SyncRequests(sync, queue, syncSettings, runs, {
    log: log.child({ service: 'sync-requests' }),
    announce: () => tellOthers('sync-jobs', '*'),
  });
  // On-change mode: the request is written in the same transaction as the Mail change.
  mail.recordChangesWith((personId, trx) => syncRequests.requestForChange(personId, trx));
  syncAutomation = new SyncAutomation(sync, directory, syncSettings, syncStatus, queue, syncRequests, runs, {
    log: log.child({ service: 'sync-automation' }),
    tickIntervalMs: config.syncTickSeconds * 1000,
    runRetentionDays: config.runRetentionDays,
    ...(now && { now }),
  });
  const automation = syncAutomation;
  const userInitiatedTrigger = new UserInitiatedTrigger(syncRequests, {
    allSizesTrigger: config.syncOnAnyThumbnailSize,
    sessionRecheckMinutes: config.syncSessionRecheckMinutes,
  });
  const syncAdmin = new SyncAdministration(sync, syncRequests, syncSettings, syncStatus, runs, audit, async (settings) => {
    // Switched to on-change: whoever is behind now is synced now, not only at their next change.
    if (settings.mode === 'on-change') await automation.queueOutOfDate('on-change', { includeFailed: false });
  });
  const people = new PeopleLifecycle(
    { directory, identity, mail, sites, audit, settings: new PeopleSettingsStore(database.db, now) },
    {
      log: log.child({ service: 'people' }),
      withLock: processes.withLock,
      announce: tellOthers,
      onMailPhotoRemoved: (person) => syncRequests.request([person.id], 'admin'),
    },
  );
  const oidc =
    config.oidc &&
    new OidcSignIn({
      config: config.oidc,
      publicUrl: config.publicUrl,
      store: new OidcSignInStore(database.db),
      directory,
      identity,
      people,
      directoryPhotos,
      log: log.child({ service: 'oidc' }),
      // The config allows plain http only for a provider on this machine (a test's).
      allowInsecureRequests: config.oidc.issuer.protocol === 'http:',
      ...(now && { now }),
    });
  const photoImporter = new PhotoImporter(mail, directory, runs, audit, {
    concurrency: config.syncConcurrency,
    log: log.child({ service: 'import' }),
  });
  const directorySync = new DirectorySync(config.ldap, people, directoryPhotos, directory, new LdapEntryStore(database.db), runs, audit, {
    log: log.child({ service: 'directory-sync' }),
    tickIntervalMs: config.syncTickSeconds * 1000,
    ...(now && { now }),
  });

  return {
    config,
    log,
    database,
    metrics,
    directory,
    identity,
    mail,
    sites,
    sync,
    syncRequests,
    userInitiatedTrigger,
    audit,
    syncStatus,
    syncAutomation,
    syncAdmin,
    photoImporter,
    runs,
    people,
    directoryPhotos,
    directorySync,
    oidc,
    async close() {
      await directorySync.stop();
      await automation.stop();
      await oidc?.picturesSettled();
      await database.close();
    },
  };
}
