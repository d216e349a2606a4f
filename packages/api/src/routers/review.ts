import { adjudicate, agreementStats, revertGold, reviewItem, reviewQueue } from "@xray/core/review";
import { z } from "zod";
import { uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

const gate = z.enum(["normal", "abnormal"]);
const finding = z.enum(["positive", "negative", "uncertain"]);

/** Lead review: the three disagreement queues, one image's reads side by side, gold labels, agreement. */
export const reviewRouter = router({
  queue: authorizedProcedure("review.adjudicate")
    .input(
      z.object({
        datasetId: uuid,
        kind: z.enum(["readers", "model", "flagged"]),
        threshold: z.number().min(0.5).max(1).optional(),
        limit: z.number().int().min(1).max(500).default(50),
        offset: z.number().int().min(0).default(0),
      }),
    )
    .query(({ ctx, input }) => reviewQueue(ctx.db, input)),
  item: authorizedProcedure("review.adjudicate")
    .input(z.object({ imageId: uuid, datasetId: uuid.optional() }))
    .query(({ ctx, input }) => reviewItem(ctx.db, input)),
  adjudicate: authorizedProcedure("review.adjudicate")
    .input(
      z.object({
        imageId: uuid,
        gate,
        findings: z.record(z.string().min(1).max(100), finding),
        reason: z.string().max(2000).default(""),
      }),
    )
    .mutation(({ ctx, input }) => adjudicate(ctx.db, { ...input, actor: ctx.actor })),
  revert: authorizedProcedure("review.adjudicate")
    .input(z.object({ imageId: uuid, reason: z.string().trim().min(1).max(2000) }))
    .mutation(({ ctx, input }) => revertGold(ctx.db, { ...input, actor: ctx.actor })),
  agreement: authorizedProcedure("metrics.read")
    .input(z.object({ datasetId: uuid, since: z.date().optional(), until: z.date().optional() }))
    .query(({ ctx, input }) => agreementStats(ctx.db, input)),
});
