/**
 * Reading the audit log (admins): newest first, filtered by action, actor or resource, paged by id
 * (keyset: pass the last id of a page as `beforeId` for the next one).
 */
import { auditEvents, type DbOrTx, users } from "@xray/db";
import { and, desc, eq, lt, type SQL } from "drizzle-orm";

export interface AuditEntry {
  id: number;
  at: Date;
  actorEmail: string | null;
  action: string;
  resourceType: string;
  resourceId: string;
  datasetId: string | null;
  details: Record<string, unknown>;
}

export async function listAuditEvents(
  db: DbOrTx,
  opts: {
    action?: string;
    /** The acting user's e-mail (case-insensitive, exact). */
    actorEmail?: string;
    resourceType?: string;
    resourceId?: string;
    beforeId?: number;
    limit?: number;
  } = {},
): Promise<AuditEntry[]> {
  const conditions: SQL[] = [];
  if (opts.action) conditions.push(eq(auditEvents.action, opts.action));
  if (opts.actorEmail) conditions.push(eq(users.email, opts.actorEmail.trim().toLowerCase()));
  if (opts.resourceType) conditions.push(eq(auditEvents.resourceType, opts.resourceType));
  if (opts.resourceId) conditions.push(eq(auditEvents.resourceId, opts.resourceId));
  if (opts.beforeId !== undefined) conditions.push(lt(auditEvents.id, opts.beforeId));
  return await db
    .select({
      id: auditEvents.id,
      at: auditEvents.at,
      actorEmail: users.email,
      action: auditEvents.action,
      resourceType: auditEvents.resourceType,
      resourceId: auditEvents.resourceId,
      datasetId: auditEvents.datasetId,
      details: auditEvents.details,
    })
    .from(auditEvents)
    .leftJoin(users, eq(users.id, auditEvents.actorId))
    .where(and(...conditions))
    .orderBy(desc(auditEvents.id))
    .limit(Math.min(Math.max(opts.limit ?? 100, 1), 500));
}

/** Actions the services and the trainer write today: suggestions for the audit page's filter (any text filters). */
export const KNOWN_AUDIT_ACTIONS = [
  "auth.login_failed",
  "dataset.create",
  "dataset.schema",
  "dataset.settings",
  "gold.adjudicate",
  "gold.revert",
  "import.run",
  "lease.release",
  "queue.rank",
  "queue.sync_reads_needed",
  "read.change",
  "read.flag",
  "read.skip",
  "read.submit",
  "read.undo",
  "read.unflag",
  "round.cancel",
  "round.start",
  "user.create",
  "user.disable",
  "user.enable",
  "user.role",
  "version.create",
  "version.promote",
] as const;
