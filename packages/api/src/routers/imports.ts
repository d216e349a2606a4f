import { getImportReport, listImports } from "@xray/core/imports-read";
import { z } from "zod";
import { uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

export const importsRouter = router({
  list: authorizedProcedure("imports.run")
    .input(z.object({ datasetId: uuid.optional(), limit: z.number().int().min(1).max(500).default(50) }))
    .query(({ ctx, input }) => listImports(ctx.db, input)),
  get: authorizedProcedure("imports.run")
    .input(z.object({ id: uuid }))
    .query(({ ctx, input }) => getImportReport(ctx.db, { importId: input.id })),
});
