import { ServiceError } from "@xray/core/errors";
import { getDatasetOverview } from "@xray/core/images";
import { estimateRoundSeconds, parseRoundConfig } from "@xray/core/round-config";
import { cancelRound, getRound, listRounds, startRound } from "@xray/core/rounds";
import { z } from "zod";
import { uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

/** Training rounds: start (validated by the shared round-config schema), watch, cancel. */
export const roundsRouter = router({
  list: authorizedProcedure("metrics.read")
    .input(z.object({ datasetId: uuid.optional(), limit: z.number().int().min(1).max(200).default(50) }))
    .query(({ ctx, input }) => listRounds(ctx.db, input)),
  /** The round with its per-epoch metric series (the console polls this every second or two). */
  get: authorizedProcedure("metrics.read")
    .input(z.object({ id: uuid }))
    .query(({ ctx, input }) => getRound(ctx.db, input.id)),
  /** The parsed config (defaults filled in) and a rough run time on this dataset. */
  estimate: authorizedProcedure("rounds.start")
    .input(z.object({ datasetId: uuid, config: z.unknown() }))
    .query(async ({ ctx, input }) => {
      let config: ReturnType<typeof parseRoundConfig>;
      try {
        config = parseRoundConfig(input.config);
      } catch (err) {
        throw new ServiceError("BAD_REQUEST", err instanceof Error ? err.message : String(err));
      }
      const ds = await getDatasetOverview(ctx.db, { actor: ctx.actor, datasetId: input.datasetId });
      const evaluation = ds.splits.test + ds.splits.val;
      const counts = {
        labelled: ds.labelled,
        unlabelled: Math.max(ds.images - ds.labelled, 0),
        evaluation,
      };
      return { config, counts, seconds: estimateRoundSeconds(config, counts) };
    }),
  start: authorizedProcedure("rounds.start")
    .input(z.object({ datasetId: uuid, config: z.unknown() }))
    .mutation(async ({ ctx, input }) => {
      if (!ctx.jobs) throw new ServiceError("PRECONDITION_FAILED", "no trainer job queue is configured");
      const jobs = await ctx.jobs();
      return startRound(ctx.db, { actor: ctx.actor, datasetId: input.datasetId, config: input.config, jobs });
    }),
  cancel: authorizedProcedure("rounds.start")
    .input(z.object({ id: uuid }))
    .mutation(({ ctx, input }) => cancelRound(ctx.db, { actor: ctx.actor, roundId: input.id })),
});
