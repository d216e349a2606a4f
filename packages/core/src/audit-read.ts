/** Reading the audit log (admins): newest first, filtered by action or resource, paged by id. */
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
    resourceType?: string;
    resourceId?: string;
    beforeId?: number;
    limit?: number;
  } = {},
): Promise<AuditEntry[]> {
  const conditions: SQL[] = [];
  if (opts.action) conditions.push(eq(auditEvents.action, opts.action));
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
