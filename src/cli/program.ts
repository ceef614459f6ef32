import fs from 'node:fs/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Services } from '../services.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { ROLES, type Role } from '../directory/index.ts';
import { AppError, shown, UserNotFound } from '../errors.ts';
import { CLI_ACTOR, TOKEN_SCOPES, type TokenScope } from '../identity/index.ts';
import { GRAPH_PHOTO_SIZES, type GraphPhotoSize } from '../imaging/index.ts';
import { registerAuditCommand } from './audit-command.ts';
import { registerDirectoryCommand } from './directory-command.ts';
import { CliFailure, EXIT, type CliContext, type CliIo } from './cli-io.ts';
import { exitCodeOf } from './exit-code.ts';
import { getNamedPerson } from './named-person.ts';
import { columns, printable, printableJson, printableLine } from './printable.ts';
import { registerPhotoImportCommand } from './photo-import-command.ts';
import { registerPeopleCommands } from './people-commands.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { registerSyncCommands } from './sync-commands.ts';
import { askHiddenPassword, readPasswordFromStdin } from './read-password.ts';

/** Runs one `photosync …` command and returns its exit code (0 ok, 1 failed, 2 usage error). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  // A reader that stops early (`photosync audit | head`) closes the pipe: like other Unix tools, the
  // command then stops quietly with success, instead of dying on the unhandled EPIPE with a stack trace.
  let stdoutError: NodeJS.ErrnoException | undefined;
  io.stdout.on('error', (error: NodeJS.ErrnoException) => {
    stdoutError ??= error;
  });
  const write = (text: string | Uint8Array): void => {
    if (stdoutError) throw new StdoutClosed();
    io.stdout.write(text);
  };
  // Every line the CLI prints passes here: stored values never reach the terminal as control characters.
  const out = (line: string): void => write(`${printableLine(line)}\n`);
  const json = (value: unknown): void => write(`${printableJson(value)}\n`);

  const withServices = async <T>(work: (services: Services) => Promise<T>, options: { server?: boolean } = {}): Promise<T> => {
    const config = loadConfig(io.env);
    // The server logs JSON lines on standard output; a command keeps standard output for its answer
    // and logs only warnings and errors, on standard error.
    const level = options.server || config.logLevel === 'silent' || ['fatal', 'error'].includes(config.logLevel) ? config.logLevel : 'warn';
    // Loaded per command, so `--help` and usage errors never load the database, image or web code.
    const [{ pino }, { createServices }] = await Promise.all([import('pino'), import('../services.ts')]);
    const logger = pino({ level }, options.server ? io.stdout : io.stderr);
    const services = await createServices(config, { logger });
    try {
      return await work(services);
    } finally {
      await services.close();
    }
  };

  const program = new Command('photosync')
    .description('Profile photos: a Mail photo store with a Graph-compatible API, Sites copies, and the sync between them.')
    .version(packageJson.version, '-V, --version', 'print the version of photosync')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run photosync --help for usage)');

  program
    .command('serve')
    .description('start the server (configured by environment variables; see README)')
    .option('--demo', 'also seed a handful of people with generated photos')
    .action((options: { demo?: boolean }) =>
      withServices(async (services) => (await import('./serve-command.ts')).serve(services, io, { demo: options.demo === true }), {
        server: true,
      }),
    );

  const users = program.command('users').description('people in the directory');
  users
    .command('add <userPrincipalName>')
    .description('add a person; asks for a password on a terminal')
    .option('--name <displayName>', 'display name (default: from the user principal name)')
    .option('--mail <address>', 'mail address')
    .addOption(new Option('--role <role>', 'role').choices(ROLES).default('user'))
    .option('--password-stdin', 'read the password from standard input')
    .option('--no-password', 'add without a password (cannot sign in until one is set with users set-password or on the People page)')
    .action(async (upn: string, options: { name?: string; mail?: string; role: Role; passwordStdin?: boolean; password: boolean }) => {
      let password: string | undefined;
      if (options.passwordStdin) password = await readPasswordFromStdin(io.stdin);
      else if (options.password && io.stdin.isTTY) {
        password = await askHiddenPassword('Password: ', io.stdin, io.stdout);
        if ((await askHiddenPassword('Password again: ', io.stdin, io.stdout)) !== password)
          throw new CliFailure('The two passwords differ.', EXIT.usage);
      } else if (options.password) {
        throw new CliFailure('No terminal to ask for a password: pipe it with --password-stdin, or pass --no-password.', EXIT.usage);
      }
      await withServices(async ({ people }) => {
        const person = await people.add(CLI_ACTOR, {
          userPrincipalName: upn,
          ...(options.name !== undefined && { displayName: options.name }),
          ...(options.mail !== undefined && { mail: options.mail }),
          role: options.role,
          ...(password !== undefined && { password }),
        });
        out(`Added ${person.userPrincipalName} (${person.displayName}, ${person.role}) with id ${person.id}.`);
      });
    });

  users
    .command('list')
    .description('list people')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      withServices(async ({ directory }) => {
        const people = await directory.listPeople({ limit: 100_000 });
        if (options.json) return json(people);
        out(columns('User principal name', 'Display name', 'Mail', 'Role', 'Status'));
        for (const p of people) out(columns(p.userPrincipalName, p.displayName, p.mail ?? '', p.role, ...(p.enabled ? [] : ['disabled'])));
      }),
    );

  users
    .command('import <csvFile>')
    .description('add or update people from CSV (header: userPrincipalName,displayName,mail,role)')
    .option('--dry-run', 'check every row, change nothing')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, options: { dryRun?: boolean; json?: boolean }) => {
      const text = (await readInputFile(file, 'a CSV file')).toString('utf8');
      const report = await withServices(({ directory }) => directory.importPeopleFromCsv(text, { dryRun: options.dryRun === true }));
      if (options.json) json(report);
      else {
        for (const row of report.rows.filter((r) => r.outcome === 'failed'))
          io.stderr.write(`line ${row.line}: ${printable(row.message ?? '')}\n`);
        const { created, updated, unchanged, failed } = report.counts;
        out(
          `${options.dryRun ? 'Dry run: would have ' : ''}created ${created}, updated ${updated}, unchanged ${unchanged}, failed ${failed}.`,
        );
      }
      if (report.counts.failed > 0) throw new CliFailure('', EXIT.failed);
    });

  const photo = program.command('photo').description('Mail photos');
  photo
    .command('set <userPrincipalName> <file>')
    .description("set or replace a person's photo (JPEG or PNG)")
    .action(async (upn: string, file: string) => {
      const bytes = await readInputFile(file, 'a photo file');
      await withServices(async ({ directory, mail }) => {
        const { version, changed } = await mail.setPhoto(CLI_ACTOR, await getNamedPerson(directory, upn), bytes, 'cli');
        out(
          changed
            ? `Stored the photo of ${upn} in ${version.sizes.length} sizes (ETag ${version.etag}).`
            : `${upn} already has this photo; nothing changed.`,
        );
      });
    });

  photo
    .command('get <userPrincipalName>')
    .description("write a person's photo to a file (or to standard output when piped)")
    .addOption(new Option('--size <pixels>', 'one of the Graph sizes').argParser(parseGraphSize))
    .option('-o, --output <file>', 'file to write')
    .action((upn: string, options: { size?: GraphPhotoSize; output?: string }) =>
      withServices(async ({ directory, mail }) => {
        const rendition = await mail.getRendition(CLI_ACTOR, await getNamedPerson(directory, upn), options.size);
        if (options.output) {
          await fs.writeFile(options.output, rendition.bytes);
          out(`Wrote the ${rendition.size}x${rendition.size} photo of ${upn} to ${options.output}.`);
        } else if (io.stdout.isTTY) {
          throw new CliFailure('Refusing to write image bytes to a terminal; use -o FILE or pipe the output.', EXIT.usage);
        } else {
          write(rendition.bytes);
        }
      }),
    );

  photo
    .command('remove <userPrincipalName>')
    .description("remove a person's photo")
    .action((upn: string) =>
      withServices(async ({ directory, mail }) => {
        await mail.removePhoto(CLI_ACTOR, await getNamedPerson(directory, upn));
        out(`Removed the photo of ${upn}.`);
      }),
    );

  const tokens = program.command('tokens').description('API tokens for the Graph-compatible API');
  tokens
    .command('create')
    .description('create a token; prints it once, alone on standard output')
    .requiredOption('--user <userPrincipalName>', 'the person the token acts as')
    .option('--name <label>', 'what the token is for', 'API token')
    .addOption(
      new Option(
        '--scope <scope>',
        "photos: read and write photos as the person; admin: also the admin pages and actions (an admin's token only)",
      )
        .choices(TOKEN_SCOPES)
        .default('photos'),
    )
    .addOption(
      new Option('--expires-in <duration>', 'how long it works, in days or hours: 30d, 12h (default 90d)')
        .argParser(parseTokenLifetime)
        .conflicts('expiry'),
    )
    .option('--no-expiry', 'a token that never expires (revoke it when it is no longer needed)')
    .action((options: { user: string; name: string; scope: TokenScope; expiresIn?: number; expiry: boolean }) =>
      withServices(async ({ directory, identity }) => {
        const expiresInMs = options.expiry ? options.expiresIn : null;
        const { id, token, expiresAt } = await identity.createApiToken(
          CLI_ACTOR,
          await getNamedPerson(directory, options.user),
          options.name,
          { scope: options.scope, expiresInMs },
        );
        io.stderr.write(
          `Created token ${id} for ${printable(options.user)} (scope ${options.scope}, ${expiresAt ? `expires ${expiresAt}` : 'never expires'}). It is shown only once:\n`,
        );
        out(token);
      }),
    );

  tokens
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      withServices(async ({ identity }) => {
        const list = await identity.listApiTokens(CLI_ACTOR);
        if (options.json) return json(list);
        const now = new Date().toISOString();
        for (const t of list) {
          const expiry = t.expiresAt === null ? 'never expires' : `${t.expiresAt <= now ? 'expired' : 'expires'} ${t.expiresAt}`;
          out(
            columns(
              t.id,
              t.userPrincipalName,
              t.name,
              t.scope,
              `created ${t.createdAt}`,
              expiry,
              t.revokedAt ? `revoked ${t.revokedAt}` : `last used ${t.lastUsedAt ?? 'never'}`,
            ),
          );
        }
      }),
    );

  tokens
    .command('revoke <id>')
    .description('revoke a token')
    .action((id: string) =>
      withServices(async ({ identity }) => {
        await identity.revokeApiToken(CLI_ACTOR, id);
        out(`Revoked token ${id}.`);
      }),
    );

  const context: CliContext = { io, withServices, out, json };
  registerPeopleCommands(users, context);
  registerPhotoImportCommand(program, context);
  registerSyncCommands(program, context);
  registerAuditCommand(program, context);
  registerDirectoryCommand(program, context);

  let code: number;
  try {
    await program.parseAsync(argv, { from: 'user' });
    code = EXIT.ok;
  } catch (error) {
    code = error instanceof StdoutClosed ? EXIT.ok : reportFailure(error, io);
  }
  if (stdoutError && stdoutError.code !== 'EPIPE') {
    io.stderr.write(`photosync: cannot write to standard output: ${printable(stdoutError.code ?? stdoutError.message)}\n`);
    return EXIT.failed;
  }
  return code;
}

/** Thrown by the first write after standard output closed, so the command stops there. */
class StdoutClosed extends Error {}

function reportFailure(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help'
      ? EXIT.ok
      : EXIT.usage;
  }
  if (error instanceof CliFailure) {
    if (error.message) io.stderr.write(`photosync: ${printable(error.message)}\n`);
    return error.exitCode;
  }
  if (error instanceof ConfigError) {
    io.stderr.write(`photosync: configuration: ${printable(error.message)}\n`);
    return EXIT.usage;
  }
  if (error instanceof UserNotFound) {
    // Graph's wording ("Resource 'x' does not exist or one of its queried reference-property objects…") is for Graph clients.
    io.stderr.write(`photosync: Nobody has the user principal name or mail '${printable(shown(error.idOrName))}'.\n`);
    return exitCodeOf(error);
  }
  if (error instanceof AppError) {
    io.stderr.write(`photosync: ${printable(error.message)}\n`);
    return exitCodeOf(error);
  }
  io.stderr.write(`photosync: ${printable(error instanceof Error ? error.message : String(error))}\n`);
  return EXIT.failed;
}

/** `30d` or `12h` as milliseconds: at least an hour, at most ten years. */
function parseTokenLifetime(value: string): number {
  const match = /^(\d{1,6})([dh])$/.exec(value.trim().toLowerCase());
  const hours = match ? Number(match[1]) * (match[2] === 'd' ? 24 : 1) : 0;
  if (hours < 1 || hours > 3650 * 24)
    throw new InvalidArgumentError('use a number of days or hours, like 30d or 12h (at most 3650d); or --no-expiry');
  return hours * 3_600_000;
}

function parseGraphSize(value: string): GraphPhotoSize {
  const [side, other, ...rest] = value.toLowerCase().split('x');
  const size = Number(side);
  if (!GRAPH_PHOTO_SIZES.includes(size as GraphPhotoSize) || (other !== undefined && Number(other) !== size) || rest.length > 0) {
    throw new InvalidArgumentError(`use one of ${GRAPH_PHOTO_SIZES.join(', ')}`);
  }
  return size as GraphPhotoSize;
}

/** A file the command reads; `kind` ("a photo file") names what was expected where a folder was given. */
async function readInputFile(file: string, kind: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `There is no file ${file}.`
        : code === 'EISDIR'
          ? `${file} is a folder, not ${kind}.`
          : `Cannot read ${file}: ${code ?? String(error)}.`;
    throw new CliFailure(message, EXIT.usage);
  }
}
