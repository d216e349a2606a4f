import { rm } from "node:fs/promises";
import { parseRoundConfig, recordAudit } from "@xray/core";
import { getVersion } from "@xray/core/versions";
import { modelVersions, trainingRounds } from "@xray/db";
import { and, eq, max, or, sql } from "drizzle-orm";
import { trainRound } from "../pipeline/train";
import { assertArtifacts } from "./errors";
import { RoundCancelled, RoundLost, RoundReporter } from "./progress";
import { runScoring } from "./scoring";
import type { WorkerContext } from "./worker";

/**
 * Runs one training round end to end. Only the worker that claimed the round (its heartbeat being
 * fresh) works on it, so a round never runs twice at once. The version row is written in one
 * transaction after every artifact file is in storage: a killed worker never leaves half a version.
 */
export async function runRoundJob(ctx: WorkerContext, roundId: string): Promise<void> {
  const { platform, workerId, log } = ctx;
  const { db, storage } = platform;
  const staleBefore = sql`now() - ${`${Math.round(ctx.staleAfterMs)} milliseconds`}::interval`;
  const [round] = await db
    .update(trainingRounds)
    .set({
      status: "running",
      workerId,
      attempts: sql`${trainingRounds.attempts} + 1`,
      heartbeatAt: sql`now()`,
      startedAt: sql`coalesce(${trainingRounds.startedAt}, now())`,
      error: null,
    })
    .where(
      and(
        eq(trainingRounds.id, roundId),
        or(
          eq(trainingRounds.status, "queued"),
          and(eq(trainingRounds.status, "running"), sql`${trainingRounds.heartbeatAt} < ${staleBefore}`),
        ),
      ),
    )
    .returning();
  if (!round) {
    log(`round ${roundId}: not claimable (already taken, finished or cancelled)`);
    return;
  }
  const config = parseRoundConfig(round.config);
  const workKey = `rounds/${round.id}`;
  const workDir = storage.pathOf(workKey);
  const reporter = new RoundReporter(db, round.id, workerId, {
    stage: "preparing",
    message: `attempt ${round.attempts}`,
  });
  const finish = async (set: Partial<typeof trainingRounds.$inferInsert>) => {
    await reporter.close();
    await db
      .update(trainingRounds)
      .set({ ...set, finishedAt: sql`now()`, heartbeatAt: sql`now()` })
      .where(and(eq(trainingRounds.id, round.id), eq(trainingRounds.workerId, workerId)));
  };
  try {
    let versionId = round.versionId;
    // A version whose encoder this round reuses must still have its files: else fail now with a
    // reason (ArtifactsMissingError, not retryable), before any training.
    if (!versionId && config.pretrain.mode === "reuse")
      await assertArtifacts(storage, await getVersion(db, config.pretrain.versionId), "reusing its encoder");
    if (!versionId) {
      const trained = await trainRound({
        db,
        storage,
        round: { id: round.id, datasetId: round.datasetId },
        config,
        workDir,
        reporter,
        log,
      });
      reporter.check();
      reporter.update({ stage: "saving", message: "writing the model version" });
      versionId = await saveVersion(ctx, { round, config, trained });
      log(`round ${round.id}: saved version ${versionId}`);
    }
    // The checkpoints are not needed once the version is saved (a resume goes straight to scoring).
    await rm(workDir, { recursive: true, force: true });
    reporter.update({ stage: "scoring", message: "scoring the unlabelled pool" });
    reporter.check();
    // From here on the round's heartbeat and progress come from whichever workers score its shards;
    // the last one to finish runs promotion, ranking and heatmaps and marks the round succeeded.
    await reporter.close();
    const scoring = await runScoring(ctx, {
      versionId,
      roundId: round.id,
      ...(config.scoring.shards ? { shards: config.scoring.shards } : {}),
    });
    if (scoring.outcome === "cancelled") throw new RoundCancelled();
    if (scoring.outcome === "handed-off")
      log(`round ${round.id}: my shards are done; the last worker on the others finishes the round`);
  } catch (err) {
    if (err instanceof RoundLost) {
      await reporter.close();
      log(`round ${round.id}: lost its lease to another worker; stopping here`);
      return;
    }
    if (err instanceof RoundCancelled) {
      await finish({
        status: "cancelled",
        progress: { stage: "cancelled", message: "cancelled by a researcher" },
      });
      await rm(workDir, { recursive: true, force: true });
      log(`round ${round.id}: cancelled`);
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    await finish({ status: "failed", error: message, progress: { stage: "failed", message } });
    throw err;
  }
}

type TrainResult = Awaited<ReturnType<typeof trainRound>>;

async function saveVersion(
  ctx: WorkerContext,
  args: {
    round: typeof trainingRounds.$inferSelect;
    config: ReturnType<typeof parseRoundConfig>;
    trained: TrainResult;
  },
): Promise<string> {
  const { db, storage } = ctx.platform;
  const { round, trained } = args;
  const versionId = crypto.randomUUID();
  const artifactKey = `models/${round.datasetId}/${versionId}`;
  // 1. Every artifact file into storage first (each written atomically).
  for (const file of trained.artifactFiles) {
    await storage.putAt(`${artifactKey}/${file.name}`, file.data);
  }
  // 2. Then the version row and the round's link to it, together.
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${round.datasetId}))`);
    const [last] = await tx
      .select({ n: max(modelVersions.number) })
      .from(modelVersions)
      .where(eq(modelVersions.datasetId, round.datasetId));
    await tx.insert(modelVersions).values({
      id: versionId,
      datasetId: round.datasetId,
      number: (last?.n ?? 0) + 1,
      roundId: round.id,
      parentVersionId: trained.parentVersionId,
      encoderFromVersionId: trained.encoderFromVersionId,
      artifactKey,
      config: args.config,
      labelSnapshot: trained.labelSnapshot,
      codeRevision: trained.codeRevision,
      metrics: trained.metrics,
    });
    const updated = await tx
      .update(trainingRounds)
      .set({ versionId })
      .where(and(eq(trainingRounds.id, round.id), eq(trainingRounds.workerId, ctx.workerId)))
      .returning({ id: trainingRounds.id });
    if (updated.length === 0) throw new RoundLost();
    await recordAudit(tx, {
      actorId: round.createdBy,
      action: "version.create",
      resourceType: "version",
      resourceId: versionId,
      datasetId: round.datasetId,
      details: { roundId: round.id, labels: trained.labelSnapshot.count },
    });
  });
  return versionId;
}
