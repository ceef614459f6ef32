export { AuditLog, type AuditFilter } from './audit-log.ts';
export {
  AUDIT_ACTIONS,
  SYNC_AUDIT_ACTOR,
  describeActor,
  type AuditAction,
  type AuditActor,
  type AuditActorKind,
  type AuditEntry,
  type NewAuditEntry,
} from './audit-entry.ts';
