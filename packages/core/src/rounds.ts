import { type DbOrTx, datasets, roundMetrics, trainingRounds } from "@xray/db";
import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { notFound, ServiceError } from "./errors";
import type { JobQueue } from "./jobs";
import { parseRoundConfig, type RoundConfig } from "./round-config";

export interface StartRoundOptions {
  actor: Actor;
  datasetId: string;
  config: unknown;
  jobs: Pick<JobQueue, "enqueue">;
}

/** Queues a training round; a trainer worker picks it up. Never trains in the caller's process. */
export async function startRound(db: DbOrTx, opts: StartRoundOptions) {
  let config: RoundConfig;
  try {
    config = parseRoundConfig(opts.config);
  } catch (err) {
    throw new ServiceError(
      "BAD_REQUEST",
      `invalid round config: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const [ds] = await db.select({ id: datasets.id }).from(datasets).where(eq(datasets.id, opts.datasetId));
  if (!ds) throw notFound("dataset");
  const [round] = await db
    .insert(trainingRounds)
    .values({
      datasetId: ds.id,
      createdBy: opts.actor.id,
      config,
      status: "queued",
      progress: { stage: "queued" },
    })
    .returning();
  if (!round) throw new Error("round insert returned nothing");
  await recordAudit(db, {
    actorId: opts.actor.id,
    action: "round.start",
    resourceType: "round",
    resourceId: round.id,
    datasetId: ds.id,
    details: { config },
  });
  const jobId = await opts.jobs.enqueue(
    { type: "round", roundId: round.id },
    { singletonKey: `round:${round.id}` },
  );
  if (jobId) await db.update(trainingRounds).set({ jobId }).where(eq(trainingRounds.id, round.id));
  return { ...round, jobId };
}

/** A queued round is cancelled at once; a running one is asked to stop and stops within seconds. */
export async function cancelRound(db: DbOrTx, opts: { actor: Actor; roundId: string }) {
  const [row] = await db
    .update(trainingRounds)
    .set({
      status: sql`case when ${trainingRounds.status} = 'queued' then 'cancelled'::round_status else 'cancelling'::round_status end`,
      finishedAt: sql`case when ${trainingRounds.status} = 'queued' then now() else ${trainingRounds.finishedAt} end`,
    })
    .where(and(eq(trainingRounds.id, opts.roundId), inArray(trainingRounds.status, ["queued", "running"])))
    .returning({ id: trainingRounds.id, status: trainingRounds.status, datasetId: trainingRounds.datasetId });
  if (!row) {
    const [existing] = await db
      .select({ status: trainingRounds.status })
      .from(trainingRounds)
      .where(eq(trainingRounds.id, opts.roundId));
    if (!existing) throw notFound("round");
    throw new ServiceError("PRECONDITION_FAILED", `the round is already ${existing.status}`);
  }
  await recordAudit(db, {
    actorId: opts.actor.id,
    action: "round.cancel",
    resourceType: "round",
    resourceId: row.id,
    datasetId: row.datasetId,
  });
  return row;
}

export async function listRounds(db: DbOrTx, opts: { datasetId?: string; limit?: number }) {
  return await db
    .select()
    .from(trainingRounds)
    .where(opts.datasetId ? eq(trainingRounds.datasetId, opts.datasetId) : undefined)
    .orderBy(desc(trainingRounds.createdAt))
    .limit(opts.limit ?? 50);
}

export async function getRound(db: DbOrTx, roundId: string) {
  const [round] = await db.select().from(trainingRounds).where(eq(trainingRounds.id, roundId));
  if (!round) throw notFound("round");
  const series = await db
    .select({
      stage: roundMetrics.stage,
      epoch: roundMetrics.epoch,
      values: roundMetrics.values,
      at: roundMetrics.at,
    })
    .from(roundMetrics)
    .where(eq(roundMetrics.roundId, roundId))
    .orderBy(asc(roundMetrics.id));
  return { ...round, series };
}
