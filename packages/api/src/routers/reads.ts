import { changeRead, flagImage, myReads, skipImage, submitRead, undoLastRead } from "@xray/core/reads";
import { z } from "zod";
import { uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

const gate = z.enum(["normal", "abnormal"]);
const findings = z.record(z.string().min(1).max(100), z.enum(["positive", "negative", "uncertain"]));
const timeSpentMs = z.number().int().min(0).max(2_147_483_647);
const reason = z.string().trim().max(500);

/**
 * An annotator's reads. A submit is idempotent in effect: a second one for the same image is a
 * CONFLICT (one read per annotator per image), which a client retrying after a lost answer treats as
 * "already saved".
 */
export const readsRouter = router({
  submit: authorizedProcedure("reads.write")
    .input(
      z.object({
        imageId: uuid,
        gate,
        findings,
        timeSpentMs,
        flagged: z.boolean().default(false),
        flagReason: reason.optional(),
        assisted: z.boolean().default(false),
        modelVersionId: uuid.nullable().optional(),
      }),
    )
    .mutation(({ ctx, input }) => submitRead(ctx.db, { actor: ctx.actor, ...input })),
  skip: authorizedProcedure("reads.write")
    .input(
      z.object({
        imageId: uuid,
        reason: reason.min(1),
        timeSpentMs: timeSpentMs.optional(),
        flagged: z.boolean().default(false),
        flagReason: reason.optional(),
      }),
    )
    .mutation(({ ctx, input }) => skipImage(ctx.db, { actor: ctx.actor, ...input })),
  /** Flags (or unflags) an already submitted read for a lead. */
  flag: authorizedProcedure("reads.write")
    .input(z.object({ imageId: uuid, flagged: z.boolean().default(true), reason: reason.optional() }))
    .mutation(({ ctx, input }) => flagImage(ctx.db, { actor: ctx.actor, ...input })),
  /** Takes back the caller's last read (or the given one) while its lease would still hold. */
  undo: authorizedProcedure("reads.write")
    .input(z.object({ imageId: uuid.optional(), datasetId: uuid.optional() }))
    .mutation(({ ctx, input }) => undoLastRead(ctx.db, { actor: ctx.actor, ...input })),
  /** Changes the caller's read until the image is adjudicated. */
  change: authorizedProcedure("reads.write")
    .input(
      z.object({
        imageId: uuid,
        gate,
        findings,
        flagged: z.boolean().optional(),
        flagReason: reason.optional(),
        timeSpentMs: timeSpentMs.optional(),
      }),
    )
    .mutation(({ ctx, input }) => changeRead(ctx.db, { actor: ctx.actor, ...input })),
  /** The caller's own reads, newest first (scoped to the caller in the service's WHERE). */
  mine: authorizedProcedure("reads.write")
    .input(
      z.object({
        datasetId: uuid.optional(),
        kind: z.enum(["read", "skip"]).optional(),
        gate: gate.optional(),
        flagged: z.boolean().optional(),
        adjudicated: z.boolean().optional(),
        limit: z.number().int().min(1).max(200).default(50),
        offset: z.number().int().min(0).max(1_000_000).default(0),
      }),
    )
    .query(({ ctx, input }) => myReads(ctx.db, { actor: ctx.actor, ...input })),
});
