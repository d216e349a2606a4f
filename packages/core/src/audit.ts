import { auditEvents, type DbOrTx } from "@xray/db";

export interface AuditInput {
  actorId: string | null;
  action: string;
  resourceType: string;
  resourceId: string;
  datasetId?: string | null;
  details?: Record<string, unknown>;
}

/** Appends an audit event; call it inside the same transaction as the change it records. */
export async function recordAudit(db: DbOrTx, input: AuditInput): Promise<void> {
  await db.insert(auditEvents).values({
    actorId: input.actorId,
    action: input.action,
    resourceType: input.resourceType,
    resourceId: input.resourceId,
    datasetId: input.datasetId ?? null,
    details: input.details ?? {},
  });
}
