import { Option, type Command } from 'commander';
import { CLI_ACTOR } from '../identity/index.ts';
import { SYNC_MODES, SYNC_STATE_KINDS, type SyncStateKind } from '../sync/index.ts';
import { CliFailure, EXIT, type CliContext } from './cli-io.ts';
import { getNamedPerson } from './named-person.ts';
import { cancelOnInterrupt, showProgress } from './progress-output.ts';

/** `photosync sync`, `status` and `sync-mode`: the admin's sync controls, in the terminal. */
export function registerSyncCommands(program: Command, { io, withServices, out, json }: CliContext): void {
  program
    .command('sync [userPrincipalName]')
    .description("sync one person's Sites copy from Mail now, or everyone with --all")
    .option('--all', 'sync everyone')
    .option('--stale-only', 'with --all: only the people whose Sites copy is out of date or never checked')
    .option('--json', 'print the result as JSON')
    .action(async (upn: string | undefined, options: { all?: boolean; staleOnly?: boolean; json?: boolean }) => {
      if ((upn === undefined) === !options.all) throw new CliFailure('Name one person, or pass --all (not both).', EXIT.usage);
      if (options.staleOnly && !options.all) throw new CliFailure('--stale-only goes with --all.', EXIT.usage);
      await withServices(async ({ directory, syncAdmin, syncAutomation }) => {
        if (upn !== undefined) {
          const result = await syncAdmin.syncPerson(CLI_ACTOR, await getNamedPerson(directory, upn));
          if (options.json) json(result);
          else
            out(
              result.outcome === 'failed'
                ? `${upn}: failed: ${result.error}`
                : `${upn}: ${result.outcome} (${Math.round(result.durationMs)} ms)`,
            );
          if (result.outcome === 'failed') throw new CliFailure('', EXIT.failed);
          return;
        }
        const runId = await syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: options.staleOnly === true });
        // This process works on the run too (a server on the same database, if one runs, shares the jobs).
        await syncAutomation.startWorkers({ tick: false });
        const stopListening = cancelOnInterrupt(() => syncAdmin.cancelRun(CLI_ACTOR, runId), io);
        const progress = await showProgress(async () => (await syncAdmin.findRun(CLI_ACTOR, runId))!, io).finally(stopListening);
        if (options.json) json(progress);
        else {
          for (const failure of progress.failures) out(`failed: ${failure.item}: ${failure.reason}`);
          const seconds = (Date.parse(progress.finishedAt!) - Date.parse(progress.startedAt)) / 1000;
          out(
            `${progress.status === 'cancelled' ? 'Cancelled: ' : ''}synced ${progress.done - progress.failed} of ${progress.total} people, ${progress.failed} failed, in ${seconds.toFixed(1)} s.`,
          );
        }
        if (progress.failed > 0 || progress.status === 'cancelled') throw new CliFailure('', EXIT.failed);
      });
    });

  program
    .command('status [userPrincipalName]')
    .description('sync state: counts per state, the people in one state, or one person with their history')
    .addOption(new Option('--state <state>', 'list the people in this state').choices(SYNC_STATE_KINDS))
    .option('--json', 'print JSON')
    .action((upn: string | undefined, options: { state?: SyncStateKind; json?: boolean }) =>
      withServices(async ({ directory, syncAdmin }) => {
        if (upn !== undefined) {
          const { state, history } = await syncAdmin.personStatus(CLI_ACTOR, await getNamedPerson(directory, upn));
          if (options.json) return json({ userPrincipalName: upn, ...state, history });
          out(`${upn}: ${state.state}${state.reason ? ` (${state.reason})` : ''}`);
          out(`  Mail ETag ${state.mailEtag ?? '(no photo)'}, synced ETag ${state.syncedEtag ?? '(placeholder)'}`);
          out(
            `  last checked ${state.lastCheckedAt ?? 'never'}, last synced ${state.lastSyncedAt ?? 'never'}, last trigger ${state.lastTrigger ?? '-'}`,
          );
          for (const run of history)
            out(
              `  ${run.startedAt}  ${run.trigger.padEnd(22)} ${run.outcome.padEnd(11)} ${String(run.durationMs).padStart(5)} ms${run.error ? `  ${run.error}` : ''}`,
            );
          return;
        }
        const [settings, counts] = await Promise.all([syncAdmin.getSettings(CLI_ACTOR), syncAdmin.countByState(CLI_ACTOR)]);
        const people = [];
        if (options.state) {
          for (let page = await syncAdmin.listStatus(CLI_ACTOR, { state: options.state, limit: 1000 }); page.length > 0;) {
            people.push(...page);
            page = await syncAdmin.listStatus(CLI_ACTOR, {
              state: options.state,
              limit: 1000,
              after: page.at(-1)!.userPrincipalName.toLowerCase(),
            });
          }
        }
        if (options.json) return json({ ...settings, counts, ...(options.state && { people }) });
        out(`Sync mode: ${settings.mode}${settings.mode === 'scheduled' ? ` (every ${settings.intervalMinutes} min)` : ''}`);
        for (const kind of SYNC_STATE_KINDS) out(`${kind.padEnd(13)} ${counts[kind]}`);
        for (const p of people)
          out(`${p.userPrincipalName}\t${p.state}\t${p.lastCheckedAt ?? 'never checked'}${p.reason ? `\t${p.reason}` : ''}`);
      }),
    );

  program
    .command('sync-mode [mode]')
    .description(`show or set the sync mode (${SYNC_MODES.join(', ')})`)
    .option('--interval <minutes>', 'scheduled mode: minutes between syncs of the out-of-date people')
    .action((mode: string | undefined, options: { interval?: string }) =>
      withServices(async ({ syncAdmin }) => {
        const current = await syncAdmin.getSettings(CLI_ACTOR);
        const next =
          mode === undefined && options.interval === undefined
            ? current
            : await syncAdmin.changeSettings(CLI_ACTOR, {
                mode: mode ?? current.mode,
                intervalMinutes: options.interval ?? current.intervalMinutes,
              });
        out(`Sync mode: ${next.mode}${next.mode === 'scheduled' ? ` (every ${next.intervalMinutes} min)` : ''}`);
      }),
    );
}
