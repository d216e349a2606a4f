import { rankQueue } from "@xray/core/priorities";
import { compareVersions, getVersion, listVersions, promoteVersion } from "@xray/core/versions";
import { z } from "zod";
import { uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

/** Model versions: list with lineage, one version's metrics, compare two, promote (rollback = promote an older one). */
export const versionsRouter = router({
  list: authorizedProcedure("metrics.read")
    .input(z.object({ datasetId: uuid }))
    .query(({ ctx, input }) => listVersions(ctx.db, input)),
  get: authorizedProcedure("metrics.read")
    .input(z.object({ id: uuid }))
    .query(({ ctx, input }) => getVersion(ctx.db, input.id)),
  compare: authorizedProcedure("metrics.read")
    .input(z.object({ versionA: uuid, versionB: uuid }))
    .query(({ ctx, input }) => compareVersions(ctx.db, input)),
  /** Promotes, then re-ranks the queue from the promoted version so annotators see its order. */
  promote: authorizedProcedure("versions.promote")
    .input(z.object({ id: uuid }))
    .mutation(async ({ ctx, input }) => {
      const promoted = await promoteVersion(ctx.db, { actor: ctx.actor, versionId: input.id });
      const ranking = await rankQueue(ctx.db, {
        datasetId: promoted.version.datasetId,
        versionId: promoted.version.id,
        actor: ctx.actor,
      });
      return { version: promoted.version, previousActiveId: promoted.previousActiveId, ranking };
    }),
});
