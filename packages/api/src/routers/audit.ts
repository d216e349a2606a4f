import { listAuditEvents } from "@xray/core/audit-read";
import { z } from "zod";
import { authorizedProcedure, router } from "../trpc";

export const auditRouter = router({
  list: authorizedProcedure("audit.read")
    .input(
      z.object({
        action: z.string().max(100).optional(),
        actorEmail: z.string().max(320).optional(),
        resourceType: z.string().max(100).optional(),
        resourceId: z.string().max(200).optional(),
        beforeId: z.number().int().positive().optional(),
        limit: z.number().int().min(1).max(500).default(100),
      }),
    )
    .query(({ ctx, input }) => listAuditEvents(ctx.db, input)),
});
