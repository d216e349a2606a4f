import { updateDatasetSettings } from "@xray/core/dataset-settings";
import { createDataset, labelSchemaSchema, updateDatasetSchema } from "@xray/core/datasets";
import { getDatasetOverview, listDatasetOverviews } from "@xray/core/images";
import { z } from "zod";
import { uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

export const datasetsRouter = router({
  /** Every dataset with image counts (the home page). */
  list: authorizedProcedure("datasets.read").query(({ ctx }) =>
    listDatasetOverviews(ctx.db, { actor: ctx.actor }),
  ),
  get: authorizedProcedure("datasets.read")
    .input(z.object({ id: uuid }))
    .query(({ ctx, input }) => getDatasetOverview(ctx.db, { actor: ctx.actor, datasetId: input.id })),
  create: authorizedProcedure("datasets.manage")
    .input(
      z.object({
        name: z.string().trim().min(1).max(200),
        description: z.string().max(2000).default(""),
        /** Omitted: the canine musculoskeletal schema. */
        labelSchema: labelSchemaSchema.optional(),
      }),
    )
    .mutation(({ ctx, input }) => createDataset(ctx.db, { ...input, actor: ctx.actor })),
  updateSchema: authorizedProcedure("datasets.manage")
    .input(z.object({ id: uuid, labelSchema: labelSchemaSchema }))
    .mutation(({ ctx, input }) =>
      ctx.db.transaction((tx) =>
        updateDatasetSchema(tx, { datasetId: input.id, labelSchema: input.labelSchema, actor: ctx.actor }),
      ),
    ),
  /** Reading mode and reads per image: a lead's call (admins may set them too). */
  updateSettings: authorizedProcedure("datasets.settings")
    .input(
      z.object({
        id: uuid,
        readingMode: z.enum(["blind", "assisted"]).optional(),
        readsPerImage: z.number().int().min(1).max(10).optional(),
        leaseMinutes: z.number().int().min(1).max(1440).optional(),
      }),
    )
    .mutation(({ ctx, input }) => {
      const { id, ...settings } = input;
      return updateDatasetSettings(ctx.db, { datasetId: id, settings, actor: ctx.actor });
    }),
});
