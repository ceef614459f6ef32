import type { Command } from 'commander';
import { CLI_ACTOR } from '../identity/index.ts';
import { CliFailure, EXIT, type CliContext } from './cli-io.ts';
import { getNamedPerson } from './named-person.ts';
import { readPasswordFromStdin } from './read-password.ts';

/** `users set-password | disable | enable | remove`: the people lifecycle, as the operator. */
export function registerPeopleCommands(users: Command, { io, withServices, out }: CliContext): void {
  users
    .command('set-password <userPrincipalName>')
    .description("set a person's password, read from standard input; their sessions end")
    .option('--password-stdin', 'read the password from standard input (required: a password never goes in an argument)')
    .option('--must-change', 'the person must choose a new password at their next sign-in')
    .action(async (upn: string, options: { passwordStdin?: boolean; mustChange?: boolean }) => {
      if (!options.passwordStdin) {
        throw new CliFailure(
          'Pipe the password in and pass --password-stdin (a password in an argument would show in the process list and shell history).',
          EXIT.usage,
        );
      }
      const password = await readPasswordFromStdin(io.stdin);
      if (password === '') throw new CliFailure('Standard input was empty: pipe the password in.', EXIT.usage);
      await withServices(async ({ directory, people }) => {
        await people.setPassword(CLI_ACTOR, await getNamedPerson(directory, upn), password, { mustChange: options.mustChange === true });
        out(`Set the password of ${upn}${options.mustChange ? '; they must change it at their next sign-in' : ''}.`);
      });
    });

  users
    .command('disable <userPrincipalName>')
    .description('disable a person: no sign-in, their sessions and tokens stop at once, Sites shows their placeholder')
    .option('--reason <text>', 'why, for the audit log')
    .action((upn: string, options: { reason?: string }) =>
      withServices(async ({ directory, people }) => {
        const person = await getNamedPerson(directory, upn);
        await people.disable(CLI_ACTOR, person, options.reason ? { reason: options.reason } : {});
        out(person.enabled ? `Disabled ${person.userPrincipalName}.` : `${person.userPrincipalName} was already disabled.`);
      }),
    );

  users
    .command('enable <userPrincipalName>')
    .description('enable a disabled person again')
    .action((upn: string) =>
      withServices(async ({ directory, people }) => {
        const person = await getNamedPerson(directory, upn);
        await people.enable(CLI_ACTOR, person);
        out(person.enabled ? `${person.userPrincipalName} was already enabled.` : `Enabled ${person.userPrincipalName}.`);
      }),
    );

  users
    .command('remove <userPrincipalName>')
    .description('remove a person with their photos, Sites copies, sync history, sessions and tokens (the audit log keeps its entries)')
    .option('--yes', 'confirm: this cannot be undone')
    .action(async (upn: string, options: { yes?: boolean }) => {
      if (!options.yes) {
        throw new CliFailure(
          `Removing ${upn} deletes their Mail photos, Sites copies, sync history, sessions and tokens, and cannot be undone (photosync users disable keeps them). Run again with --yes to remove.`,
          EXIT.usage,
        );
      }
      await withServices(async ({ directory, people }) => {
        const person = await getNamedPerson(directory, upn);
        await people.remove(CLI_ACTOR, person);
        out(`Removed ${person.userPrincipalName}.`);
      });
    });
}
