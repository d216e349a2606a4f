/**
 * Pool scoring split into shards over several workers: two worker loops share the shards of one
 * round's version, every pool image is scored exactly once, the follow-up (promotion, re-ranking,
 * heatmaps, the round's success) runs once; then a worker process is SIGKILLed in the middle of a
 * shard and another worker resumes that shard without scoring any image twice.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createUser, getRound, type Platform, startRound } from "@xray/core";
import { seedDemo } from "@xray/core/import/demo";
import { activeVersion } from "@xray/core/versions";
import { auditEvents, images, predictions, scoreRuns, scoreShards } from "@xray/db";
import { planScoring } from "@xray/trainer/worker/scoring";
import { startWorker, type WorkerHandle } from "@xray/trainer/worker/worker";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestPlatform } from "./helpers/platform";
import { until as waitUntil } from "./helpers/until";

const root = path.resolve(import.meta.dirname, "../..");
const STALE_MS = 10_000;

const until = <T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 180_000) =>
  waitUntil(what, fn, ms);

describe("pool scoring in shards over several workers", () => {
  let platform: Platform;
  let datasetId: string;
  let pool: number;
  let researcher: { id: string; role: "researcher" };
  const workers: WorkerHandle[] = [];
  let child: ChildProcess | null = null;
  let versionId = "";
  const logs: string[] = [];

  const count = async (q: Promise<{ n: number }[]>) => (await q)[0]?.n ?? 0;
  const rankAudits = () =>
    count(
      platform.db
        .select({ n: sql<number>`count(*)::int` })
        .from(auditEvents)
        .where(
          and(eq(auditEvents.action, "queue.rank"), sql`${auditEvents.details}->>'versionId' = ${versionId}`),
        ),
    );

  beforeAll(async () => {
    platform = await useTestPlatform({ max: 10 });
    datasetId = (await seedDemo({ db: platform.db, storage: platform.storage })).knee.datasetId;
    pool = await count(
      platform.db
        .select({ n: sql<number>`count(*)::int` })
        .from(images)
        .where(eq(images.datasetId, datasetId)),
    );
    const r = await createUser(platform.db, {
      email: "res@test.org",
      role: "researcher",
      password: "x",
      actor: null,
      skipPolicy: true,
    });
    researcher = { id: r.id, role: "researcher" };
    for (const id of ["w1", "w2"])
      workers.push(
        await startWorker({
          platform,
          workerId: id,
          pollMs: 50,
          staleAfterMs: STALE_MS,
          log: (l) => logs.push(`${id} ${l}`),
        }),
      );
  });
  afterAll(async () => {
    try {
      if (child?.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    for (const w of workers) await w.stop();
  });

  it("two workers share one version's shards; each image scored once; the follow-up runs once", {
    timeout: 300_000,
  }, async () => {
    const jobs = workers[0]!.jobs;
    const round = await startRound(platform.db, {
      actor: researcher,
      datasetId,
      jobs,
      config: {
        seed: 5,
        inputSize: 32,
        encoder: { width: 8, blocks: [1, 1] },
        fixmatch: { epochs: 1, batchSize: 16, mu: 1 },
        scoring: { strategy: "entropy", heatmapsTop: 2, batchSize: 10, shards: 6 },
      },
    });
    const done = await until("the round to finish", async () => {
      const r = await getRound(platform.db, round.id);
      return r.status === "succeeded" || r.status === "failed" ? r : null;
    });
    expect(done.error).toBeNull();
    expect(done.status).toBe("succeeded");
    versionId = done.versionId ?? "";
    expect((await activeVersion(platform.db, datasetId))?.id).toBe(versionId);

    const runs = await platform.db.select().from(scoreRuns).where(eq(scoreRuns.versionId, versionId));
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run.roundId).toBe(round.id);
    expect(run.shards).toBe(6);
    expect(run.finishedAt).not.toBeNull();
    const shards = await platform.db.select().from(scoreShards).where(eq(scoreShards.runId, run.id));
    expect(shards).toHaveLength(6);
    expect(shards.every((s) => s.status === "done")).toBe(true);
    // Every image went through the model exactly once, over all shards and workers.
    expect(shards.reduce((a, s) => a + s.scored, 0)).toBe(pool);
    expect(
      await count(
        platform.db
          .select({ n: sql<number>`count(*)::int` })
          .from(predictions)
          .where(eq(predictions.versionId, versionId)),
      ),
    ).toBe(pool);
    // Both workers scored shards of the same version.
    expect(new Set(shards.map((s) => s.workerId))).toEqual(new Set(["w1", "w2"]));
    // The follow-up ran once: one re-ranking of the queue, heatmaps for its head, one success.
    expect(await rankAudits()).toBe(1);
    expect(["w1", "w2"]).toContain(run.followupWorker);
    const withHeatmaps = await count(
      platform.db
        .select({ n: sql<number>`count(*)::int` })
        .from(predictions)
        .where(and(eq(predictions.versionId, versionId), sql`${predictions.heatmaps} <> '{}'::jsonb`)),
    );
    expect(withHeatmaps).toBe(2);
    // The shard heartbeats (which also carry the round's progress) never failed.
    expect(logs.filter((l) => /failed/.test(l))).toEqual([]);
  });

  it("a shard killed mid-way is resumed by another worker without scoring any image twice", {
    timeout: 240_000,
  }, async () => {
    expect(versionId).not.toBe("");
    // Score the version's pool again from nothing, in 3 shards, starting with a slow worker process.
    await platform.db.delete(predictions).where(eq(predictions.versionId, versionId));
    const { run, created } = await planScoring(platform.db, { versionId, shards: 3 });
    expect(created).toBe(true);
    child = spawn(
      path.join(root, "node_modules/.bin/tsx"),
      [path.join(root, "tests/integration/helpers/score-shard-child.ts")],
      {
        cwd: root,
        env: {
          ...process.env,
          DATABASE_URL: platform.databaseUrl,
          XRAY_DATA_DIR: platform.dataDir,
          RUN_ID: run.id,
        },
        detached: true,
        stdio: ["ignore", process.env.XRAY_TEST_VERBOSE ? "inherit" : "ignore", "inherit"],
      },
    );
    const killed = await until("the child to be in the middle of a shard", async () => {
      const [s] = await platform.db
        .select()
        .from(scoreShards)
        .where(and(eq(scoreShards.runId, run.id), eq(scoreShards.workerId, "child")));
      return s && s.status === "running" && s.scored >= 16 ? s : null;
    });
    process.kill(-(child.pid ?? 0), "SIGKILL");
    const proc = child;
    await until("the child to die", async () => proc.exitCode !== null || proc.signalCode !== null);
    const before = await count(
      platform.db
        .select({ n: sql<number>`count(*)::int` })
        .from(predictions)
        .where(eq(predictions.versionId, versionId)),
    );
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(pool);

    // The workers' reaper finds the run without a live worker and queues it; a worker claims the
    // stale shard and the untouched ones, and the last one runs the follow-up.
    const finished = await until(
      "the run to finish",
      async () => {
        const [r] = await platform.db.select().from(scoreRuns).where(eq(scoreRuns.id, run.id));
        return r?.finishedAt ? r : null;
      },
      180_000,
    );
    const shards = await platform.db.select().from(scoreShards).where(eq(scoreShards.runId, run.id));
    expect(shards.every((s) => s.status === "done")).toBe(true);
    const resumed = shards.find((s) => s.shard === killed.shard)!;
    expect(resumed.attempts).toBe(2);
    expect(["w1", "w2"]).toContain(resumed.workerId);
    expect(resumed.scored).toBeGreaterThan(killed.scored);
    expect(shards.reduce((a, s) => a + s.scored, 0)).toBe(pool);
    expect(
      await count(
        platform.db
          .select({ n: sql<number>`count(*)::int` })
          .from(predictions)
          .where(eq(predictions.versionId, versionId)),
      ),
    ).toBe(pool);
    expect(["w1", "w2"]).toContain(finished.followupWorker);
    // One more re-ranking for this run, not one per worker or shard.
    expect(await rankAudits()).toBe(2);
  });
});
