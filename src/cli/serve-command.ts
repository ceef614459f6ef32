import type { Services } from '../services.ts';
import { ensureFirstAdmin } from '../identity/index.ts';
import { keepWorkerThreadsInBackground } from '../imaging/index.ts';
import type { CliIo } from './cli-io.ts';
import { seedDemoPeople } from './demo-seed.ts';

/** Starts the server and keeps it up until SIGTERM/SIGINT, then closes it gracefully. */
export async function serve(services: Services, io: CliIo, options: { demo: boolean }): Promise<void> {
  const { config } = services;
  const admin = await ensureFirstAdmin(services.directory, services.identity, {
    userPrincipalName: config.adminUpn,
    password: config.adminPassword,
  });
  // Loaded only here: the other commands need the services, not the web server's code (and memory).
  const { buildHttpApp } = await import('../app.ts');
  const app = await buildHttpApp(services);

  if (admin.created) {
    if (admin.oneTimePassword) {
      io.stdout.write(
        `\nCreated the first admin ${admin.person.userPrincipalName} with the one-time password:\n\n    ${admin.oneTimePassword}\n\n` +
          'It is shown only this once; you will be asked to choose your own at the first sign-in.\n\n',
      );
    } else {
      io.stdout.write(`Created the first admin ${admin.person.userPrincipalName} with the password from PHOTOSYNC_ADMIN_PASSWORD.\n`);
    }
  }
  if (options.demo) {
    const seed = await seedDemoPeople(services);
    io.stdout.write(
      `Demo people (password for each, valid until the next start: ${seed.password}):\n${seed.people.map((p) => `    ${p}\n`).join('')}`,
    );
  }

  await services.identity.deleteExpiredSessions();
  // Expired sessions are refused anyway; this only keeps the table small.
  const sessionCleanup = setInterval(() => {
    services.identity
      .deleteExpiredSessions()
      .catch((error: unknown) =>
        services.log.warn({ err: error }, 'could not delete expired sessions; they are refused anyway, and the next hour tries again'),
      );
  }, 3_600_000).unref();
  // On-change and scheduled syncs: this process takes queued jobs (on PostgreSQL, with the others).
  // Started before listening, so a ready server has already queued the catch-up after a crash.
  await services.syncAutomation.startWorkers();
  // LDAP_SYNC_INTERVAL_MINUTES: one server process (whichever claims the turn) syncs the directory.
  services.directorySync.startSchedule();
  const address = await app.listen({ port: config.port, host: config.host });
  // Image work runs on lower-priority threads, so the event loop (every read) comes first.
  const stopRenicing = keepWorkerThreadsInBackground();
  // PORT=0 picks a free port (tests, benchmarks): then the real address is the one to print.
  io.stdout.write(
    `photosync is listening on ${config.port === 0 ? `${address}/` : config.publicUrl.href} (database: ${services.database.dialect === 'sqlite' ? config.sqliteFile : 'PostgreSQL'})\n`,
  );

  await new Promise<void>((resolve) => {
    const stop = async (signal: string) => {
      app.log.info({ signal }, 'shutting down');
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      clearInterval(sessionCleanup);
      stopRenicing();
      await app.close();
      resolve();
    };
    const onTerm = () => void stop('SIGTERM');
    const onInt = () => void stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}
