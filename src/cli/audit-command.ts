import { InvalidArgumentError, Option, type Command } from 'commander';
import { AUDIT_ACTIONS, type AuditAction } from '../audit/index.ts';
import { CLI_ACTOR } from '../identity/index.ts';
import type { CliContext } from './cli-io.ts';
import { printable } from './printable.ts';

/** `--since` takes a date/time (2026-11-01, 2026-11-01T08:00Z) or an age (30m, 24h, 7d). */
export function parseSince(value: string, now = new Date()): Date {
  const age = /^(\d{1,6})([mhd])$/.exec(value.trim());
  if (age) return new Date(now.getTime() - Number(age[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 'm' | 'h' | 'd']);
  const date = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())
    ? new Date(value.trim())
    : undefined;
  // new Date('2026-02-30') is 2 March: a day that does not exist is refused, not moved.
  const sameDay = date && !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value.trim().slice(0, 10);
  if (!date || Number.isNaN(date.getTime()) || (!/[+-]\d{2}:?\d{2}$/.test(value.trim()) && !sameDay))
    throw new InvalidArgumentError('use a date such as 2026-11-01 or 2026-11-01T08:00Z, or an age such as 30m, 24h or 7d');
  return date;
}

/** `photosync audit`: who changed whose photo, and what admins did. */
export function registerAuditCommand(program: Command, { withServices, out, json }: CliContext): void {
  program
    .command('audit')
    .description('the audit log, newest first')
    .addOption(new Option('--since <when>', 'only entries since a date/time or an age (7d, 24h, 30m)').argParser((v) => parseSince(v)))
    .addOption(new Option('--action <action>', 'only this action').choices(AUDIT_ACTIONS))
    .option('--person <upn>', 'only entries about or by this person (part of a UPN matches)')
    .addOption(
      new Option('--limit <n>', 'at most this many entries').default(100).argParser((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError('use a whole number from 1 to 1000');
        return n;
      }),
    )
    .option('--json', 'print JSON')
    .action((options: { since?: Date; action?: AuditAction; person?: string; limit: number; json?: boolean }) =>
      withServices(async ({ audit }) => {
        const entries = await audit.list(CLI_ACTOR, {
          limit: options.limit,
          ...(options.since && { since: options.since }),
          ...(options.action && { action: options.action }),
          ...(options.person && { person: options.person }),
        });
        if (options.json) return json(entries);
        for (const e of entries) {
          const target = e.target ? ` ${printable(e.target.name)}` : '';
          out(
            `${e.at}  ${e.actor.kind}:${printable(e.actor.name)}  ${e.action}${target}${e.detail ? `  ${printable(e.detail)}` : ''}${e.ip ? `  from ${printable(e.ip)}` : ''}`,
          );
        }
      }),
    );
}
