import { getImage, listImages } from "@xray/core/images";
import { z } from "zod";
import { page, split, uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

export const imagesRouter = router({
  list: authorizedProcedure("images.read")
    .input(
      z.object({
        datasetId: uuid.optional(),
        split: split.optional(),
        labelled: z.boolean().optional(),
        page,
        pageSize: z.number().int().min(1).max(200).default(48),
      }),
    )
    .query(({ ctx, input }) => listImages(ctx.db, { actor: ctx.actor, ...input })),
  get: authorizedProcedure("images.read")
    .input(z.object({ id: uuid, datasetId: uuid.optional() }))
    .query(({ ctx, input }) =>
      getImage(ctx.db, { actor: ctx.actor, imageId: input.id, datasetId: input.datasetId }),
    ),
});
