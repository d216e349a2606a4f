/**
 * Pool scoring split over workers. A version's scoring is a run of N shards, each a disjoint range of
 * image ids (ids are random UUIDs: equal ranges, about equal shares). Any worker sharing the
 * database claims a pending (or stale) shard with FOR UPDATE SKIP LOCKED, scores the images of its
 * range that the version has not scored yet, and beats a heartbeat while it works; a killed shard is
 * claimed again once its heartbeat is stale and goes on where its predictions stop (each chunk's
 * predictions and the shard's counter are written in one transaction, guarded by the lease).
 *
 * When no shard is left, whichever worker gets there claims the follow-up with one guarded UPDATE
 * (every shard done, no fresh holder): promotion (rounds), re-ranking the queue with the configured
 * strategy, Grad-CAM for the head of the queue, and the round's success, so they run exactly once.
 *
 * A round's scoring keeps the round's heartbeat fresh from every shard that works on it, so the
 * round is not reaped while other workers score; if they all die, the reaper queues the round
 * again and its resume claims the stale shards. Runs without a round are recovered by
 * reapScoreRuns.
 *
 * A run that cannot succeed is closed as failed, with its reason in score_runs.error (and its round
 * failed with it), instead of being retried forever: at once when the version's model files are
 * missing (ArtifactsMissingError, not retryable), or when a shard has been started maxAttempts times
 * (each claim counts one; a graceful stop gives its attempt back) with the last error as the reason.
 */
import { JOB_QUEUE, type JobQueue, parseRoundConfig, type RoundConfig } from "@xray/core";
import { rankQueue } from "@xray/core/priorities";
import { activeVersion, getVersion, promoteVersion } from "@xray/core/versions";
import { type Db, images, predictions, scoreRuns, scoreShards, trainingRounds } from "@xray/db";
import { and, desc, eq, gt, isNull, sql } from "drizzle-orm";
import { computeHeatmaps } from "../pipeline/heatmaps";
import { type IdRange, openVersionScorer, type PredictionRow, type VersionScorer } from "../pipeline/score";
import { assertArtifacts } from "./errors";
import type { WorkerContext } from "./worker";

export type ScoreRun = typeof scoreRuns.$inferSelect;
export type ScoreShard = typeof scoreShards.$inferSelect;

const MAX_SHARDS = 1024;
const DEFAULT_SHARD_IMAGES = 20_000;
/** Starts of one shard before its run fails (the worker's maxAttempts, as for rounds). */
const DEFAULT_MAX_ATTEMPTS = 3;

/**
 * A scoring run that another worker (or an earlier attempt) closed as failed; the message is the
 * run's reason. Not retryable: the run is closed.
 */
export class ScoringFailedError extends Error {
  readonly retryable = false;
  constructor(
    readonly runId: string,
    reason: string,
  ) {
    super(reason);
    this.name = "ScoringFailedError";
  }
}

/** An error that marks itself `retryable = false` (ArtifactsMissingError and the like). */
function isFinal(err: unknown): boolean {
  return typeof err === "object" && err !== null && Reflect.get(err, "retryable") === false;
}

/**
 * Closes an open run as failed with a reason: its unfinished shards are failed (never claimed again,
 * and their holders lose their lease), and its round, if still running, fails with the same reason.
 * Returns false when the run was already closed.
 */
export async function failScoring(db: Db, run: Pick<ScoreRun, "id" | "roundId">, reason: string) {
  return db.transaction(async (tx) => {
    const closed = await tx
      .update(scoreRuns)
      .set({ finishedAt: sql`now()`, error: reason })
      .where(and(eq(scoreRuns.id, run.id), isNull(scoreRuns.finishedAt)))
      .returning({ id: scoreRuns.id });
    if (closed.length === 0) return false;
    await tx
      .update(scoreShards)
      .set({ status: "failed", workerId: null, finishedAt: sql`now()` })
      .where(and(eq(scoreShards.runId, run.id), sql`${scoreShards.status} <> 'done'`));
    if (run.roundId)
      await tx
        .update(trainingRounds)
        .set({
          status: "failed",
          error: reason,
          progress: { stage: "failed", message: reason },
          finishedAt: sql`now()`,
          heartbeatAt: sql`now()`,
        })
        .where(and(eq(trainingRounds.id, run.roundId), eq(trainingRounds.status, "running")));
    return true;
  });
}

/** The reason a run was closed as failed, or null (open, finished, or gone). */
async function failureOf(db: Db, runId: string): Promise<string | null> {
  const [row] = await db.select({ error: scoreRuns.error }).from(scoreRuns).where(eq(scoreRuns.id, runId));
  return row?.error ?? null;
}

/** Shard count for a pool: XRAY_SCORE_SHARDS, else one shard per XRAY_SCORE_SHARD_IMAGES images. */
export function defaultShardCount(poolSize: number, env: NodeJS.ProcessEnv = process.env): number {
  const fixed = Number(env.XRAY_SCORE_SHARDS);
  if (Number.isInteger(fixed) && fixed >= 1) return Math.min(MAX_SHARDS, fixed);
  const per = Number(env.XRAY_SCORE_SHARD_IMAGES);
  const perShard = Number.isInteger(per) && per >= 1 ? per : DEFAULT_SHARD_IMAGES;
  return Math.max(1, Math.min(MAX_SHARDS, Math.ceil(poolSize / perShard)));
}

/** The i-th of n equal ranges of the UUID space (by its first 32 bits); the last has no upper bound. */
export function shardRanges(n: number): IdRange[] {
  if (!Number.isInteger(n) || n < 1 || n > MAX_SHARDS)
    throw new Error(`shard count must be 1..${MAX_SHARDS}`);
  const bound = (i: number) =>
    `${Math.floor((i * 2 ** 32) / n)
      .toString(16)
      .padStart(8, "0")}-0000-0000-0000-000000000000`;
  return Array.from({ length: n }, (_, i) => ({ fromId: bound(i), toId: i === n - 1 ? null : bound(i + 1) }));
}

const staleBefore = (ms: number) => sql`now() - ${`${Math.round(ms)} milliseconds`}::interval`;

/**
 * The open scoring run of a version, created (with its shards) when there is none. Idempotent: two
 * planners of the same version get the same run (a partial unique index allows one open run).
 */
export async function planScoring(
  db: Db,
  opts: { versionId: string; roundId?: string | null; shards?: number },
): Promise<{ run: ScoreRun; created: boolean }> {
  const open = async () =>
    (
      await db
        .select()
        .from(scoreRuns)
        .where(and(eq(scoreRuns.versionId, opts.versionId), isNull(scoreRuns.finishedAt)))
    )[0];
  const existing = await open();
  if (existing) {
    if (opts.roundId && !existing.roundId) {
      // A run planned for new imports before the round got here: the round adopts it, so that its
      // follow-up finishes the round.
      await db
        .update(scoreRuns)
        .set({ roundId: opts.roundId })
        .where(and(eq(scoreRuns.id, existing.id), isNull(scoreRuns.roundId)));
      return { run: { ...existing, roundId: opts.roundId }, created: false };
    }
    return { run: existing, created: false };
  }
  const version = await getVersion(db, opts.versionId);
  const [{ total } = { total: 0 }] = await db
    .select({ total: sql<number>`count(*)::int` })
    .from(images)
    .where(eq(images.datasetId, version.datasetId));
  const shards = opts.shards ?? defaultShardCount(total);
  const ranges = shardRanges(shards);
  const created = await db.transaction(async (tx) => {
    const [run] = await tx
      .insert(scoreRuns)
      .values({
        versionId: version.id,
        datasetId: version.datasetId,
        roundId: opts.roundId ?? null,
        shards,
        total,
      })
      .onConflictDoNothing()
      .returning();
    if (!run) return null;
    await tx
      .insert(scoreShards)
      .values(ranges.map((r, shard) => ({ runId: run.id, shard, fromId: r.fromId, toId: r.toId })));
    return run;
  });
  if (created) return { run: created, created: true };
  const raced = await open();
  if (!raced) throw new Error(`version ${opts.versionId}: no open scoring run after planning one`);
  return { run: raced, created: false };
}

/**
 * Asks workers to help: one score-shard job per shard beyond the planner's own (at most 64), or per
 * shard when the planner does not score itself.
 */
export async function enqueueShardHelpers(
  jobs: Pick<JobQueue, "enqueue">,
  run: ScoreRun,
  plannerScores = true,
): Promise<number> {
  const n = Math.min(64, plannerScores ? run.shards - 1 : run.shards);
  for (let i = 0; i < n; i++) await jobs.enqueue({ type: "score-shard", runId: run.id });
  return n;
}

/** The shard row while `workerId` still holds it (running): every write of the holder is guarded by it. */
function heldShard(runId: string, shard: number, workerId: string) {
  return and(
    eq(scoreShards.runId, runId),
    eq(scoreShards.shard, shard),
    eq(scoreShards.workerId, workerId),
    eq(scoreShards.status, "running"),
  );
}

async function claimShard(db: Db, runId: string, workerId: string, staleAfterMs: number) {
  const res = await db.execute<{
    shard: number;
    from_id: string;
    to_id: string | null;
    attempts: number;
  }>(sql`
    update score_shards s set status = 'running', worker_id = ${workerId}, heartbeat_at = now(),
      attempts = s.attempts + 1
    where s.run_id = ${runId} and s.shard = (
      select shard from score_shards
      where run_id = ${runId} and (status = 'pending'
        or (status = 'running' and (heartbeat_at is null or heartbeat_at < ${staleBefore(staleAfterMs)})))
      order by shard limit 1 for update skip locked)
    returning s.shard, s.from_id, s.to_id, s.attempts`);
  return res.rows[0] ?? null;
}

class ShardStopped extends Error {
  constructor(readonly reason: "lost" | "cancelled") {
    super(reason === "lost" ? "another worker holds this shard" : "the round was cancelled");
    this.name = "ShardStopped";
  }
}

/**
 * Beats a claimed shard's heartbeat (and its round's, with the run's progress) on a timer, and learns
 * on the same round trips whether the shard was taken over or the round cancelled.
 */
class ShardLease {
  stopped: ShardStopped | null = null;
  private readonly timer: NodeJS.Timeout;
  private inflight: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly run: ScoreRun,
    private readonly shard: number,
    private readonly workerId: string,
    intervalMs: number,
    private readonly log: (l: string) => void,
  ) {
    this.timer = setInterval(() => void this.beat(), intervalMs);
    this.timer.unref();
  }

  beat(): Promise<void> {
    this.inflight = this.inflight.then(async () => {
      try {
        const held = await this.db
          .update(scoreShards)
          .set({ heartbeatAt: sql`now()` })
          .where(heldShard(this.run.id, this.shard, this.workerId))
          .returning({ shard: scoreShards.shard });
        if (held.length === 0) this.stopped = new ShardStopped("lost");
        if (this.run.roundId) {
          const r = await this.db.execute<{ status: string }>(sql`
            update training_rounds set heartbeat_at = now(), progress = jsonb_build_object(
              'stage', 'scoring', 'step', s.done, 'steps', ${this.run.total}::int,
              'message', s.done || ' images scored (' || ${this.run.shards}::int || ' shards, '
                || s.finished || ' done)')
            from (select coalesce(sum(scored), 0)::int as done, count(*) filter (where status = 'done')::int as finished
                  from score_shards where run_id = ${this.run.id}) s
            where id = ${this.run.roundId} and status in ('running', 'cancelling')
            returning status`);
          const status = r.rows[0]?.status;
          if (status !== "running") this.stopped = new ShardStopped("cancelled");
        }
      } catch (err) {
        // A database hiccup must not stop a long shard; the next beat retries.
        this.log(`shard heartbeat failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    return this.inflight;
  }

  check(): void {
    if (this.stopped) throw this.stopped;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.inflight;
  }
}

export interface ScoreShardsOptions {
  /** Images per inference chunk (default 256). */
  chunkSize?: number;
  /** Called after each stored chunk of a shard (tests use it to pace or stop a shard). */
  afterChunk?: (info: { shard: number; done: number }) => Promise<void> | void;
}

export interface ScoreShardsResult {
  /** Shards this worker finished. */
  shards: number[];
  /** Images this worker scored. */
  scored: number;
  /** The round was cancelled while scoring. */
  cancelled: boolean;
}

/**
 * Claims the run's pending (or stale) shards one after another and scores them, until none is left
 * to claim. The model is loaded once, on the first claimed shard.
 */
export async function scoreShardsOf(
  ctx: WorkerContext,
  run: ScoreRun,
  opts: ScoreShardsOptions = {},
): Promise<ScoreShardsResult> {
  const { platform, workerId, log } = ctx;
  const { db, storage } = platform;
  const result: ScoreShardsResult = { shards: [], scored: 0, cancelled: false };
  let scorer: VersionScorer | null = null;
  let config: Pick<RoundConfig, "seed" | "scoring"> | null = null;
  const beatMs = Math.max(200, Math.min(5_000, ctx.staleAfterMs / 4));
  const maxAttempts = ctx.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  try {
    for (;;) {
      if (ctx.signal.aborted) break;
      const claimed = await claimShard(db, run.id, workerId, ctx.staleAfterMs);
      if (!claimed) break;
      const shard = claimed.shard;
      if (claimed.attempts > maxAttempts) {
        // Started maxAttempts times and never finished nor failed with an error: its workers died.
        const reason =
          `scoring shard ${shard + 1}/${run.shards} was started ${maxAttempts} times and its worker ` +
          "stopped each time; giving up";
        if (await failScoring(db, run, reason)) log(`scoring run ${run.id} failed: ${reason}`);
        throw new ScoringFailedError(run.id, reason);
      }
      log(`scoring run ${run.id}: shard ${shard + 1}/${run.shards} (attempt ${claimed.attempts})`);
      const lease = new ShardLease(db, run, shard, workerId, beatMs, log);
      try {
        if (!scorer) {
          const version = await getVersion(db, run.versionId);
          // Missing model files fail the run now with a reason naming them (not retryable).
          await assertArtifacts(storage, version, "scoring the pool");
          config = parseRoundConfig(version.config);
          scorer = await openVersionScorer({
            db,
            storage,
            versionId: run.versionId,
            config,
            log,
            ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
          });
        }
        const write = async (rows: PredictionRow[]) => {
          await db.transaction(async (tx) => {
            const held = await tx
              .update(scoreShards)
              .set({ scored: sql`${scoreShards.scored} + ${rows.length}`, heartbeatAt: sql`now()` })
              .where(heldShard(run.id, shard, workerId))
              .returning({ shard: scoreShards.shard });
            if (held.length === 0) throw new ShardStopped("lost");
            await tx.insert(predictions).values(rows).onConflictDoNothing();
          });
        };
        const n = await scorer.scoreRange(
          { fromId: claimed.from_id, toId: claimed.to_id },
          {
            write,
            signal: ctx.signal,
            afterChunk: async (done) => {
              lease.check();
              await opts.afterChunk?.({ shard, done });
            },
          },
        );
        await lease.close();
        const finished = await db
          .update(scoreShards)
          .set({ status: "done", finishedAt: sql`now()`, heartbeatAt: sql`now()` })
          .where(heldShard(run.id, shard, workerId))
          .returning({ shard: scoreShards.shard });
        if (finished.length === 0) throw new ShardStopped("lost");
        result.shards.push(shard);
        result.scored += n;
        await lease.beat(); // the round's progress with this shard counted
      } catch (err) {
        await lease.close();
        if (err instanceof ShardStopped && err.reason === "lost") {
          log(`scoring run ${run.id}: shard ${shard + 1} was taken over by another worker`);
          continue;
        }
        const stopping = err instanceof ShardStopped || ctx.signal.aborted;
        if (!stopping && (isFinal(err) || claimed.attempts >= maxAttempts)) {
          // Running it again cannot help (missing files), or it failed maxAttempts times: the run
          // fails with the reason instead of being queued again forever.
          const message = err instanceof Error ? err.message : String(err);
          const reason = isFinal(err)
            ? message
            : `scoring shard ${shard + 1}/${run.shards} failed ${claimed.attempts} times; giving up. ` +
              `Last error: ${message}`;
          if (await failScoring(db, run, reason))
            log(`scoring run ${run.id}: closed as failed${reason === message ? "" : `: ${reason}`}`);
          throw err;
        }
        // Hand the shard back at once (cancelled, stopping, failed): another attempt need not wait
        // for the heartbeat to go stale. A graceful stop gives its attempt back.
        await db
          .update(scoreShards)
          .set({
            status: "pending",
            workerId: null,
            ...(stopping ? { attempts: sql`greatest(${scoreShards.attempts} - 1, 0)` } : {}),
          })
          .where(heldShard(run.id, shard, workerId))
          .catch(() => {});
        if (err instanceof ShardStopped) {
          result.cancelled = true;
          return result;
        }
        if (ctx.signal.aborted) return result;
        throw err;
      }
    }
  } finally {
    await scorer?.release();
  }
  return result;
}

/**
 * Claims and runs the follow-up of a run whose shards are all done: one UPDATE that only one worker
 * can win (a claim older than the stale time can be taken over: its holder died). Returns false when
 * shards are left, another worker holds the follow-up, or it already ran.
 */
export async function finishScoring(ctx: WorkerContext, runId: string): Promise<boolean> {
  const { platform, workerId, log } = ctx;
  const { db } = platform;
  const [run] = await db
    .update(scoreRuns)
    .set({ followupWorker: workerId, followupAt: sql`now()` })
    .where(
      and(
        eq(scoreRuns.id, runId),
        isNull(scoreRuns.finishedAt),
        sql`(${scoreRuns.followupWorker} is null or ${scoreRuns.followupAt} < ${staleBefore(ctx.staleAfterMs)})`,
        sql`not exists (select 1 from score_shards s where s.run_id = ${runId} and s.status <> 'done')`,
      ),
    )
    .returning();
  if (!run) return false;
  // Keep the claim (and the round) fresh while ranking and heatmaps run.
  const beat = setInterval(
    () => {
      void db
        .execute(sql`
          with f as (update score_runs set followup_at = now() where id = ${run.id} and followup_worker = ${workerId})
          update training_rounds set heartbeat_at = now() where id = ${run.roundId} and status = 'running'`)
        .catch(() => {});
    },
    Math.max(200, Math.min(5_000, ctx.staleAfterMs / 4)),
  );
  beat.unref();
  try {
    await followUp(ctx, run);
  } finally {
    clearInterval(beat);
  }
  log(`scoring run ${run.id}: follow-up done`);
  return true;
}

async function setRoundProgress(db: Db, roundId: string | null, stage: string, message: string) {
  if (!roundId) return;
  await db
    .update(trainingRounds)
    .set({ progress: { stage, message }, heartbeatAt: sql`now()` })
    .where(and(eq(trainingRounds.id, roundId), eq(trainingRounds.status, "running")));
}

/** What runs once after the last shard (today's round steps after scoring, and the score job's). */
async function followUp(ctx: WorkerContext, run: ScoreRun): Promise<void> {
  const { platform, log } = ctx;
  const { db, storage } = platform;
  const version = await getVersion(db, run.versionId);
  const config = parseRoundConfig(version.config);
  const round = run.roundId
    ? ((await db.select().from(trainingRounds).where(eq(trainingRounds.id, run.roundId)))[0] ?? null)
    : null;
  const live = round !== null && round.status === "running";
  if (live && round) {
    const active = await activeVersion(db, round.datasetId);
    const shouldPromote =
      round.createdBy !== null &&
      (config.promote === "always" || (config.promote === "if-none-active" && active === null));
    if (shouldPromote && round.createdBy && active?.id !== version.id) {
      await setRoundProgress(db, round.id, "promoting", "promoting the new version");
      await promoteVersion(db, { actor: { id: round.createdBy, role: "researcher" }, versionId: version.id });
    }
  }
  if (round === null || live) {
    const active = await activeVersion(db, version.datasetId);
    if (active?.id === version.id) {
      await setRoundProgress(db, run.roundId, "ranking", `re-ranking the queue (${config.scoring.strategy})`);
      const ranked = await rankQueue(db, {
        datasetId: version.datasetId,
        versionId: version.id,
        strategy: config.scoring.strategy,
        batchSize: config.scoring.batchSize,
        seed: config.seed,
      });
      if (config.scoring.heatmapsTop > 0) {
        await setRoundProgress(
          db,
          run.roundId,
          "heatmaps",
          `Grad-CAM for the top ${config.scoring.heatmapsTop} of the queue`,
        );
        const top = await db
          .select({ id: images.id })
          .from(images)
          .where(and(eq(images.datasetId, version.datasetId), gt(images.readsNeeded, 0)))
          .orderBy(desc(images.priority))
          .limit(config.scoring.heatmapsTop);
        await computeHeatmaps({ db, storage, versionId: version.id, imageIds: top.map((t) => t.id), log });
      }
      log(`version ${version.id}: queue re-ranked (${ranked.ranked} images, ${ranked.strategy})`);
    } else if (round === null && active === null) {
      // No active version: a cold start, diverse picks on this version's embeddings on top.
      const ranked = await rankQueue(db, {
        datasetId: version.datasetId,
        versionId: version.id,
        strategy: "cold-start",
        batchSize: config.scoring.batchSize,
        seed: config.seed,
      });
      log(`dataset ${version.datasetId}: cold-start ranking (${ranked.ranked} images, ${ranked.strategy})`);
    }
  }
  await db.transaction(async (tx) => {
    await tx.update(scoreRuns).set({ finishedAt: sql`now()` }).where(eq(scoreRuns.id, run.id));
    if (run.roundId)
      await tx
        .update(trainingRounds)
        .set({
          status: "succeeded",
          progress: { stage: "done", message: "finished" },
          finishedAt: sql`now()`,
          heartbeatAt: sql`now()`,
        })
        .where(and(eq(trainingRounds.id, run.roundId), eq(trainingRounds.status, "running")));
  });
}

export type ScoringOutcome = "finished" | "handed-off" | "cancelled";

/**
 * Scores a version's pool as this worker's share of a sharded run: plans the run (or joins the open
 * one), asks other workers to help, scores shards until none is left, then tries the follow-up.
 * "handed-off": other workers still hold shards (or the follow-up); the last of them finishes.
 */
export async function runScoring(
  ctx: WorkerContext,
  opts: { versionId: string; roundId?: string | null; shards?: number } & ScoreShardsOptions,
): Promise<{ outcome: ScoringOutcome; run: ScoreRun; mine: ScoreShardsResult }> {
  const { db } = ctx.platform;
  const { run, created } = await planScoring(db, opts);
  if (created) {
    const helpers = await enqueueShardHelpers(ctx.jobs, run);
    ctx.log(`version ${opts.versionId}: scoring in ${run.shards} shard(s), ${helpers} helper job(s) queued`);
  }
  let mine: ScoreShardsResult;
  try {
    mine = await scoreShardsOf(ctx, run, opts);
  } catch (err) {
    // A round fails on any error of its job (round.ts): its run is closed with it, so that no
    // helper goes on scoring for a failed round and the version's next scoring plans a new run.
    if (run.roundId && !ctx.signal.aborted)
      await failScoring(db, run, err instanceof Error ? err.message : String(err));
    throw err;
  }
  // Another worker closed the run as failed (its round failed with it).
  const failed = await failureOf(db, run.id);
  if (failed !== null) throw new ScoringFailedError(run.id, failed);
  if (mine.cancelled) return { outcome: "cancelled", run, mine };
  if (ctx.signal.aborted) return { outcome: "handed-off", run, mine };
  const finished = await finishScoring(ctx, run.id);
  return { outcome: finished ? "finished" : "handed-off", run, mine };
}

/** A score-shard job: help an open run, then try its follow-up. */
export async function runScoreShardJob(
  ctx: WorkerContext,
  data: { runId: string },
  opts: ScoreShardsOptions = {},
): Promise<void> {
  const [run] = await ctx.platform.db.select().from(scoreRuns).where(eq(scoreRuns.id, data.runId));
  if (!run || run.finishedAt) return; // finished, or closed as failed: nothing to do

  const mine = await scoreShardsOf(ctx, run, opts);
  if (mine.shards.length > 0)
    ctx.log(
      `scoring run ${run.id}: ${mine.scored} images in shard(s) ${mine.shards.map((s) => s + 1).join(", ")}`,
    );
  if (mine.cancelled && run.roundId) {
    await ctx.platform.db
      .update(trainingRounds)
      .set({
        status: "cancelled",
        progress: { stage: "cancelled", message: "cancelled by a researcher" },
        finishedAt: sql`now()`,
      })
      .where(and(eq(trainingRounds.id, run.roundId), eq(trainingRounds.status, "cancelling")));
    return;
  }
  if (ctx.signal.aborted) return;
  await finishScoring(ctx, run.id);
}

/**
 * Runs without a round whose workers all stopped (no fresh shard heartbeat, no fresh follow-up
 * holder, shards or the follow-up left): queued again as a score-shard job, which claims the stale
 * shards and resumes them. Rounds recover through the round reaper instead. A failed run is closed
 * (finished_at and error set) and never queued again; its shards' attempts are capped in
 * scoreShardsOf.
 */
export async function reapScoreRuns(
  db: Db,
  jobs: Pick<JobQueue, "enqueue">,
  opts: { staleAfterMs: number; log: (l: string) => void },
): Promise<number> {
  const stale = staleBefore(opts.staleAfterMs);
  const res = await db.execute<{ id: string }>(sql`
    select r.id from score_runs r
    where r.finished_at is null and r.round_id is null and r.created_at < ${stale}
      and (r.followup_at is null or r.followup_at < ${stale})
      and not exists (select 1 from score_shards s where s.run_id = r.id and s.status = 'running'
        and s.heartbeat_at >= ${stale})
      and not exists (select 1 from pgboss.job j where j.name = ${JOB_QUEUE} and j.state in ('created', 'retry')
        and j.data->>'runId' = r.id::text)`);
  for (const r of res.rows) {
    opts.log(`scoring run ${r.id}: no worker on it; queued again to resume`);
    await jobs.enqueue({ type: "score-shard", runId: r.id });
  }
  return res.rows.length;
}

/**
 * Images imported after a dataset's model was last scored get scored and ranked: for each dataset
 * with an import that finished after its version's last scoring run (the active version, else the
 * latest), a run is planned and its shards queued. The run scores only the new images; its follow-up
 * re-ranks the queue with the version's strategy when it is active, or cold-starts it (seeded random
 * order, diverse picks on the version's embeddings on top) when no version is active. Without any
 * version there is nothing to do: imports give new images a seeded random priority themselves.
 */
export async function scoreAfterImports(
  db: Db,
  jobs: Pick<JobQueue, "enqueue">,
  opts: { log: (l: string) => void },
): Promise<number> {
  const res = await db.execute<{ version_id: string }>(sql`
    select v.id as version_id from datasets d
    cross join lateral (
      select mv.id, mv.created_at from model_versions mv where mv.dataset_id = d.id
      order by mv.is_active desc, mv.number desc limit 1) v
    where exists (
        select 1 from imports im where im.dataset_id = d.id and im.status = 'finished'
          and coalesce((im.totals->>'imported')::int, 0) > 0
          and im.finished_at > coalesce(
            (select max(r.created_at) from score_runs r where r.version_id = v.id), v.created_at))
      and not exists (select 1 from score_runs r where r.version_id = v.id and r.finished_at is null)`);
  let planned = 0;
  for (const r of res.rows) {
    const { run, created } = await planScoring(db, { versionId: r.version_id });
    if (!created) continue;
    planned++;
    const n = await enqueueShardHelpers(jobs, run, false);
    opts.log(
      `version ${r.version_id}: new images imported; scoring run ${run.id} in ${run.shards} shard(s), ${n} job(s)`,
    );
  }
  return planned;
}
