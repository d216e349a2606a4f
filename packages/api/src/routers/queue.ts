import { modelAssist, myLeases, nextImage, peekNext, releaseLease } from "@xray/core/queue";
import { z } from "zod";
import { uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

/** The annotator's queue: lease the next image, peek at the one after (prefetch), give one back. */
export const queueRouter = router({
  /** Leases the next image (or renews the caller's own unexpired lease); null when none is left. */
  next: authorizedProcedure("reads.write")
    .input(z.object({ datasetId: uuid }))
    .mutation(({ ctx, input }) => nextImage(ctx.db, { actor: ctx.actor, datasetId: input.datasetId })),
  /** Prefetch hint: the image most likely to come after the current one (no lease taken). */
  peek: authorizedProcedure("reads.write")
    .input(z.object({ datasetId: uuid, excludeImageIds: z.array(uuid).max(20).default([]) }))
    .query(async ({ ctx, input }) => ({
      imageId: await peekNext(ctx.db, {
        actor: ctx.actor,
        datasetId: input.datasetId,
        excludeImageIds: input.excludeImageIds,
      }),
    })),
  release: authorizedProcedure("reads.write")
    .input(z.object({ imageId: uuid }))
    .mutation(async ({ ctx, input }) => ({
      released: await releaseLease(ctx.db, { actor: ctx.actor, imageId: input.imageId }),
    })),
  mine: authorizedProcedure("reads.write")
    .input(z.object({ datasetId: uuid.optional() }))
    .query(({ ctx, input }) => myLeases(ctx.db, { actor: ctx.actor, datasetId: input.datasetId })),
  /**
   * The active model's probabilities and heatmap keys for an image. Blind datasets refuse an
   * annotator (FORBIDDEN) until their read is stored; the scoping lives in the service's query.
   */
  assist: authorizedProcedure("images.read")
    .input(z.object({ imageId: uuid }))
    .query(async ({ ctx, input }) => {
      const assist = await modelAssist(ctx.db, { actor: ctx.actor, imageId: input.imageId });
      if (!assist) return null;
      // Storage keys stay on the server: the client asks the heatmap route by head.
      return {
        versionId: assist.versionId,
        versionNumber: assist.versionNumber,
        probs: assist.probs,
        heatmapHeads: Object.keys(assist.heatmaps),
      };
    }),
});
