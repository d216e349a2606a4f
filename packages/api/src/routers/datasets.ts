import { getDatasetOverview, listDatasetOverviews } from "@xray/core/images";
import { z } from "zod";
import { uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

export const datasetsRouter = router({
  list: authorizedProcedure("datasets.read").query(({ ctx }) =>
    listDatasetOverviews(ctx.db, { actor: ctx.actor }),
  ),
  get: authorizedProcedure("datasets.read")
    .input(z.object({ id: uuid }))
    .query(({ ctx, input }) => getDatasetOverview(ctx.db, { actor: ctx.actor, datasetId: input.id })),
});
