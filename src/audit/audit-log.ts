import type { Kysely, Transaction } from 'kysely';
import { isAdmin, type Actor } from '../actor.ts';
import { NotPermitted } from '../errors.ts';
import type { Schema } from '../storage/index.ts';
import type { AuditAction, AuditActorKind, AuditEntry, NewAuditEntry } from './audit-entry.ts';

export interface AuditFilter {
  since?: Date;
  action?: AuditAction;
  actorKind?: AuditActorKind;
  /** A UPN (or part of one) of the person acted on or acting. */
  person?: string;
  /** Entries older than this sequence number (the next page). */
  before?: number;
  limit?: number;
}

/** The append-only record of photo changes and admin actions. Rows are never updated or deleted. */
export class AuditLog {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Pass the transaction of the change itself, so the change and its record commit together. */
  async record(entry: NewAuditEntry, db: Kysely<Schema> | Transaction<Schema> = this.db): Promise<void> {
    await db
      .insertInto('audit_log')
      .values({
        at: this.now().toISOString(),
        actor_kind: entry.actor.kind,
        actor_id: entry.actor.id,
        actor_name: entry.actor.name,
        action: entry.action,
        target_id: entry.target?.id ?? null,
        target_name: entry.target?.name ?? null,
        detail: entry.detail?.slice(0, 2000) ?? null,
        ip: entry.ip ?? null,
      })
      .execute();
  }

  /** Only admins (and the operator) read the log: it names everyone and what they did. */
  assertMayRead(actor: Actor): void {
    if (!isAdmin(actor)) throw new NotPermitted('Only an admin can read the audit log.');
  }

  /** Newest first. */
  async list(actor: Actor, filter: AuditFilter = {}): Promise<AuditEntry[]> {
    this.assertMayRead(actor);
    let query = this.db.selectFrom('audit_log').selectAll();
    if (filter.since) query = query.where('at', '>=', filter.since.toISOString());
    if (filter.action) query = query.where('action', '=', filter.action);
    if (filter.actorKind) query = query.where('actor_kind', '=', filter.actorKind);
    if (filter.before !== undefined) query = query.where('seq', '<', filter.before);
    if (filter.person) {
      const pattern = `%${filter.person.toLowerCase()}%`;
      query = query.where((eb) =>
        eb.or([eb(eb.fn('lower', ['target_name']), 'like', eb.val(pattern)), eb(eb.fn('lower', ['actor_name']), 'like', eb.val(pattern))]),
      );
    }
    const rows = await query
      .orderBy('seq', 'desc')
      .limit(Math.min(filter.limit ?? 100, 1000))
      .execute();
    return rows.map((row) => ({
      seq: Number(row.seq),
      at: row.at,
      actor: { kind: row.actor_kind as AuditActorKind, id: row.actor_id, name: row.actor_name },
      action: row.action as AuditAction,
      target: row.target_id ? { id: row.target_id, name: row.target_name ?? '' } : null,
      detail: row.detail,
      ip: row.ip,
    }));
  }
}
