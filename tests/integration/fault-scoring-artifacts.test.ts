/**
 * Fault (docs/security.md): scoring runs that cannot succeed end failed with a reason instead of
 * being queued again forever by the scoring-run reaper.
 * - After an import, a version whose model files were deleted: the run fails at its first attempt
 *   with the reason naming the missing files, and no job is tried again over several stale periods.
 * - A round resuming into scoring with such a version: the round fails with the same reason (the
 *   round's failure path), its run is closed as failed too.
 * - On-demand scoring with files that are all there but do not load (a persistent error of another
 *   kind): each attempt hands the shard back, the reaper queues it again, and after maxAttempts
 *   starts the run fails with the last error as its reason; then nothing is queued again.
 */
import { getRound } from "@xray/core";
import { seedDataset } from "@xray/core/queue.fixtures";
import { imports, modelVersions, scoreRuns, scoreShards, trainingRounds } from "@xray/db";
import { startWorker, type WorkerHandle } from "@xray/trainer/worker/worker";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestPlatform } from "./helpers/platform";
import { until as waitUntil } from "./helpers/until";

const STALE_MS = 1_500;

const until = <T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 30_000) =>
  waitUntil(what, fn, ms);

describe("scoring runs that cannot succeed", () => {
  let platform: Awaited<ReturnType<typeof useTestPlatform>>;
  let worker: WorkerHandle | null = null;
  const lines: string[] = [];

  beforeAll(async () => {
    platform = await useTestPlatform({ max: 6 });
    worker = await startWorker({
      platform,
      workerId: "w",
      pollMs: 50,
      staleAfterMs: STALE_MS,
      maxAttempts: 3,
      log: (l) => lines.push(l),
    });
  });
  afterAll(async () => {
    await worker?.stop();
  });

  /** A version of a new dataset with model.json (one weight shard), metadata.json and the shard. */
  async function version(name: string, files: { model: string; metadata: string }) {
    const { db, storage } = platform;
    const datasetId = await seedDataset(db, { name });
    const [v] = await db
      .insert(modelVersions)
      .values({
        datasetId,
        number: 1,
        artifactKey: `models/${datasetId}/v1`,
        config: {},
        labelSnapshot: { count: 0, hash: "fault" },
      })
      .returning();
    if (!v) throw new Error("no version");
    await storage.putAt(`${v.artifactKey}/model.json`, files.model);
    await storage.putAt(`${v.artifactKey}/metadata.json`, files.metadata);
    await storage.putAt(`${v.artifactKey}/group1-shard1of1.bin`, new Uint8Array(16));
    return v;
  }
  const MODEL = JSON.stringify({ weightsManifest: [{ paths: ["group1-shard1of1.bin"], weights: [] }] });

  const runsOf = (versionId: string) =>
    platform.db.select().from(scoreRuns).where(eq(scoreRuns.versionId, versionId));
  const shardsOf = (runId: string) =>
    platform.db.select().from(scoreShards).where(eq(scoreShards.runId, runId));
  const shardJobs = async (runId: string) =>
    (
      await platform.db.execute<{ n: number }>(
        sql`select count(*)::int as n from pgboss.job where data->>'type' = 'score-shard' and data->>'runId' = ${runId}`,
      )
    ).rows[0]?.n;

  it("after an import, a version with deleted files fails its run once, naming them", {
    timeout: 60_000,
  }, async () => {
    const { db, storage } = platform;
    const v = await version("import-files-gone", { model: MODEL, metadata: "{}" });
    await storage.remove(`${v.artifactKey}/metadata.json`);
    await storage.remove(`${v.artifactKey}/group1-shard1of1.bin`);
    // An import finished after the version: the worker plans a run for the new images.
    await db.insert(imports).values({
      datasetId: v.datasetId,
      source: "fault test",
      status: "finished",
      totals: { files: 1, imported: 1, duplicates: 0, refused: 0 },
      finishedAt: sql`now()`,
    });

    const started = Date.now();
    const run = await until("the run to be closed", async () => {
      const [r] = await runsOf(v.id);
      return r?.finishedAt ? r : null;
    });
    const reason =
      "the model files of version 1 are missing from storage (metadata.json, group1-shard1of1.bin " +
      `under models/${v.datasetId}/v1), so scoring the pool cannot run: restore them from a backup, ` +
      "or start a round that does not use this version";
    expect(run.error).toBe(reason);
    expect(run.roundId).toBeNull();
    expect(Date.now() - started).toBeLessThan(10_000);
    const shards = await shardsOf(run.id);
    expect(shards.map((s) => ({ status: s.status, attempts: s.attempts }))).toEqual(
      shards.map(() => ({ status: "failed", attempts: 1 })),
    );
    expect(shards.reduce((n, s) => n + s.attempts, 0)).toBe(1);
    expect(await shardJobs(run.id)).toBe(run.shards);

    // Several stale periods later: no new attempt, no new job, no new run, one log line.
    await new Promise((r) => setTimeout(r, 4 * STALE_MS));
    const later = await shardsOf(run.id);
    expect(later.reduce((n, s) => n + s.attempts, 0)).toBe(1);
    expect(later.every((s) => s.status === "failed")).toBe(true);
    expect(await shardJobs(run.id)).toBe(run.shards);
    expect(await runsOf(v.id)).toHaveLength(1);
    expect(lines.filter((l) => l.includes(reason))).toHaveLength(1);
  });

  it("a round resuming into scoring with such a version fails with the reason, its run closed", {
    timeout: 60_000,
  }, async () => {
    const { db, storage } = platform;
    const v = await version("round-files-gone", { model: MODEL, metadata: "{}" });
    await storage.remove(`${v.artifactKey}/metadata.json`);
    // A round whose version is saved: its (re)start goes straight to scoring.
    const [round] = await db
      .insert(trainingRounds)
      .values({ datasetId: v.datasetId, config: {}, versionId: v.id })
      .returning();
    if (!round) throw new Error("no round");
    await worker!.jobs.enqueue({ type: "round", roundId: round.id });
    const failed = await until("the round to fail", async () => {
      const r = await getRound(db, round.id);
      return r.status === "failed" || r.status === "succeeded" ? r : null;
    });
    const reason =
      "the model files of version 1 are missing from storage (metadata.json under " +
      `models/${v.datasetId}/v1), so scoring the pool cannot run: restore them from a backup, ` +
      "or start a round that does not use this version";
    expect(failed).toMatchObject({ status: "failed", attempts: 1, error: reason });
    const [run] = await runsOf(v.id);
    expect(run).toMatchObject({ roundId: round.id, error: reason });
    expect(run?.finishedAt).not.toBeNull();
    await new Promise((r) => setTimeout(r, 3 * STALE_MS));
    expect(await getRound(db, round.id)).toMatchObject({ status: "failed", attempts: 1, error: reason });
    expect(await runsOf(v.id)).toHaveLength(1);
  });

  it("another persistent error fails the run after maxAttempts starts, with the last error", {
    timeout: 60_000,
  }, async () => {
    // Every file is there, but metadata.json describes no classifier: loading fails each time.
    const v = await version("files-broken", { model: MODEL, metadata: "{}" });
    await worker!.jobs.enqueue({ type: "score", versionId: v.id });
    const run = await until("the run to be closed", async () => {
      const [r] = await runsOf(v.id);
      return r?.finishedAt ? r : null;
    });
    expect(run.error).toMatch(/^scoring shard 1\/1 failed 3 times; giving up\. Last error: \S/);
    expect(run.error).not.toContain("missing from storage");
    const [shard] = await shardsOf(run.id);
    expect(shard).toMatchObject({ status: "failed", attempts: 3 });
    // The first attempt was the score job itself; the reaper queued the other two.
    expect(await shardJobs(run.id)).toBe(2);

    await new Promise((r) => setTimeout(r, 4 * STALE_MS));
    const [later] = await shardsOf(run.id);
    expect(later).toMatchObject({ status: "failed", attempts: 3 });
    expect(await shardJobs(run.id)).toBe(2);
    expect(await runsOf(v.id)).toHaveLength(1);
  });
});
