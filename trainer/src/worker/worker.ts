import { hostname } from "node:os";
import { JOB_QUEUE, type JobData, type JobQueue, openJobQueue, type Platform } from "@xray/core";
import { trainingRounds } from "@xray/db";
import { and, inArray, lt, or, sql } from "drizzle-orm";
import { isConnectionError } from "./db-errors";
import { runHeatmapsJob } from "./heatmaps";
import { runRoundJob } from "./round";
import { runScoreJob } from "./score";
import { reapScoreRuns, runScoreShardJob, scoreAfterImports } from "./scoring";

export interface WorkerOptions {
  platform: Platform;
  workerId?: string;
  /** How often to look for a job when idle. */
  pollMs?: number;
  /** A running round whose heartbeat is older than this is taken to be orphaned. */
  staleAfterMs?: number;
  /**
   * Give up on a round after this many starts (each crash of a worker counts one), and on a scoring
   * run after one of its shards was started this many times without finishing.
   */
  maxAttempts?: number;
  log?: (line: string) => void;
}

export interface WorkerHandle {
  workerId: string;
  jobs: JobQueue;
  /** Stops taking jobs, lets the current one see the stop, waits for it. */
  stop(): Promise<void>;
  /** Resolves when the loop ends. */
  done: Promise<void>;
}

/**
 * Requeues rounds whose worker stopped beating (killed, machine lost). The round resumes from its last
 * checkpoint on whichever worker takes it; after maxAttempts it fails with a reason.
 */
export async function reapOrphanedRounds(
  platform: Platform,
  jobs: Pick<JobQueue, "enqueue">,
  opts: { staleAfterMs: number; maxAttempts: number; log: (l: string) => void },
): Promise<number> {
  const { db } = platform;
  const staleBefore = sql`now() - ${`${Math.round(opts.staleAfterMs)} milliseconds`}::interval`;
  const orphaned = await db
    .update(trainingRounds)
    .set({
      status: sql`case when ${trainingRounds.attempts} >= ${opts.maxAttempts} then 'failed'::round_status
        when ${trainingRounds.status} = 'cancelling' then 'cancelled'::round_status else 'queued'::round_status end`,
      error: sql`case when ${trainingRounds.attempts} >= ${opts.maxAttempts}
        then ${`the trainer stopped ${opts.maxAttempts} times during this round; giving up`} else ${trainingRounds.error} end`,
      finishedAt: sql`case when ${trainingRounds.attempts} >= ${opts.maxAttempts} or ${trainingRounds.status} = 'cancelling'
        then now() else null end`,
      workerId: null,
    })
    .where(
      and(
        inArray(trainingRounds.status, ["running", "cancelling"]),
        or(lt(trainingRounds.heartbeatAt, staleBefore), sql`${trainingRounds.heartbeatAt} is null`),
      ),
    )
    .returning({ id: trainingRounds.id, status: trainingRounds.status });
  for (const r of orphaned) {
    if (r.status === "queued") {
      opts.log(`round ${r.id}: its worker stopped beating; queued again to resume from its checkpoint`);
      await jobs.enqueue({ type: "round", roundId: r.id });
    } else opts.log(`round ${r.id}: orphaned, now ${r.status}`);
  }
  return orphaned.length;
}

export async function startWorker(opts: WorkerOptions): Promise<WorkerHandle> {
  const { platform } = opts;
  const workerId = opts.workerId ?? `${hostname()}:${process.pid}`;
  const log = opts.log ?? ((l: string) => console.log(`[worker ${workerId} pid ${process.pid}] ${l}`));
  const pollMs = opts.pollMs ?? 1_000;
  const staleAfterMs = opts.staleAfterMs ?? 30_000;
  const maxAttempts = opts.maxAttempts ?? 3;
  const jobs = await openJobQueue(platform.databaseUrl, { supervise: true });
  const abort = new AbortController();
  let lastReap = 0;
  let failing = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const onAbort = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        abort.signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      abort.signal.addEventListener("abort", onAbort, { once: true });
    });

  const loop = async () => {
    log("ready");
    while (!abort.signal.aborted) {
      try {
        if (Date.now() - lastReap > staleAfterMs / 3) {
          lastReap = Date.now();
          await reapOrphanedRounds(platform, jobs, { staleAfterMs, maxAttempts, log });
          await reapScoreRuns(platform.db, jobs, { staleAfterMs, log });
          await scoreAfterImports(platform.db, jobs, { log });
        }
        const [job] = await jobs.boss.fetch<JobData>(JOB_QUEUE, { batchSize: 1 });
        if (failing) {
          failing = false;
          log("job queue reachable again");
        }
        if (!job) {
          await sleep(pollMs);
          continue;
        }
        const data = job.data;
        log(`job ${job.id}: ${data.type}`);
        try {
          const ctx = { platform, jobs, workerId, log, signal: abort.signal, staleAfterMs, maxAttempts };
          if (data.type === "round") await runRoundJob(ctx, data.roundId);
          else if (data.type === "score") await runScoreJob(ctx, data);
          else if (data.type === "score-shard") await runScoreShardJob(ctx, data);
          else if (data.type === "heatmaps") await runHeatmapsJob(ctx, data);
          await jobs.boss.complete(JOB_QUEUE, job.id);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          log(`job ${job.id} failed: ${message}`);
          await jobs.boss.fail(JOB_QUEUE, job.id, { message }).catch(() => {});
        }
      } catch (err) {
        // Database restarts and the like: wait and go on (one line per outage, not one per poll).
        if (!failing || !isConnectionError(err))
          log(`loop error: ${err instanceof Error ? err.message : String(err)}`);
        failing = true;
        await sleep(Math.max(pollMs, 2_000));
      }
    }
  };
  const done = loop();
  return {
    workerId,
    jobs,
    done,
    async stop() {
      abort.abort();
      await done;
      await jobs.stop();
    },
  };
}

export type WorkerContext = {
  platform: Platform;
  jobs: JobQueue;
  workerId: string;
  log: (l: string) => void;
  signal: AbortSignal;
  staleAfterMs: number;
  /** Starts of a scoring shard before its run fails (default 3, as for rounds). */
  maxAttempts?: number;
};
