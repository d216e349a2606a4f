import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createUser, getRound, type Platform, startRound } from "@xray/core";
import { seedDemo } from "@xray/core/import/demo";
import { openJobQueue } from "@xray/core/jobs";
import { modelVersions } from "@xray/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestPlatform } from "./helpers/platform";
import { until as waitUntil } from "./helpers/until";

const root = path.resolve(import.meta.dirname, "../..");
const children: ChildProcess[] = [];

function spawnWorker(platform: Platform, id: string): ChildProcess {
  const child: ChildProcess = spawn(
    path.join(root, "node_modules/.bin/tsx"),
    [path.join(root, "trainer/src/worker/main.ts")],
    {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: platform.databaseUrl,
        XRAY_DATA_DIR: platform.dataDir,
        XRAY_WORKER_ID: id,
        XRAY_WORKER_STALE_MS: "10000",
        XRAY_WORKER_POLL_MS: "200",
      },
      // Its own process group, so that SIGKILL reaches the worker whatever launcher sits in between.
      detached: true,
      stdio: [
        "ignore",
        process.env.XRAY_TEST_VERBOSE ? "inherit" : "pipe",
        process.env.XRAY_TEST_VERBOSE ? "inherit" : "pipe",
      ],
    },
  );
  child.stdout?.resume();
  child.stderr?.resume();
  children.push(child);
  if (process.env.XRAY_TEST_VERBOSE) console.log("spawned worker", id, child.pid);
  return child;
}

const until = <T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 180_000) =>
  waitUntil(what, fn, ms);

describe("a trainer worker killed mid-round", () => {
  let platform: Platform;
  let datasetId: string;
  let researcher: { id: string; role: "researcher" };

  beforeAll(async () => {
    platform = await useTestPlatform({ max: 6 });
    datasetId = (await seedDemo({ db: platform.db, storage: platform.storage })).knee.datasetId;
    const r = await createUser(platform.db, {
      email: "res@test.org",
      role: "researcher",
      password: "x",
      actor: null,
      skipPolicy: true,
    });
    researcher = { id: r.id, role: "researcher" };
  });
  afterAll(() => {
    for (const c of children) {
      try {
        if (c.pid) process.kill(-c.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });

  it("leaves no half version and resumes from its checkpoint on another worker", {
    timeout: 300_000,
  }, async () => {
    const jobs = await openJobQueue(platform.databaseUrl);
    const round = await startRound(platform.db, {
      actor: researcher,
      datasetId,
      jobs,
      config: {
        seed: 3,
        inputSize: 32,
        encoder: { width: 8, blocks: [1, 1] },
        fixmatch: { epochs: 5, batchSize: 16, mu: 1 },
        scoring: { strategy: "entropy", heatmapsTop: 0 },
      },
    });
    await jobs.stop();

    const first = spawnWorker(platform, "first");
    await until("two finished epochs", async () => {
      const r = await getRound(platform.db, round.id);
      return r.series.filter((m) => m.stage === "fit").length >= 2;
    });
    if (process.env.XRAY_TEST_VERBOSE) console.log("killing first worker pid", first.pid);
    process.kill(-(first.pid ?? 0), "SIGKILL");
    await until("the first worker to die", async () => first.exitCode !== null || first.signalCode !== null);

    const killed = await getRound(platform.db, round.id);
    expect(killed.status).toBe("running");
    expect(killed.versionId).toBeNull();
    expect(
      await platform.db.select().from(modelVersions).where(eq(modelVersions.roundId, round.id)),
    ).toHaveLength(0);
    const epochsBefore = killed.series.filter((m) => m.stage === "fit").map((m) => m.epoch);

    spawnWorker(platform, "second");
    const done = await until("the round to finish on the second worker", async () => {
      const r = await getRound(platform.db, round.id);
      if (process.env.XRAY_TEST_VERBOSE) console.log(r.status, JSON.stringify(r.progress));
      return r.status === "succeeded" || r.status === "failed" ? r : null;
    });
    expect(done.error).toBeNull();
    expect(done.status).toBe("succeeded");
    expect(done.workerId).toBe("second");
    expect(done.attempts).toBe(2);
    const versions = await platform.db
      .select()
      .from(modelVersions)
      .where(eq(modelVersions.roundId, round.id));
    expect(versions).toHaveLength(1);
    expect(done.versionId).toBe(versions[0]!.id);
    // Resumed, not restarted: epoch 1 ran once; the second worker went on after the checkpoint.
    const fitEpochs = done.series.filter((m) => m.stage === "fit").map((m) => m.epoch);
    expect(fitEpochs.filter((e) => e === 1)).toHaveLength(1);
    expect(Math.max(...fitEpochs)).toBe(5);
    expect(fitEpochs.length).toBeLessThanOrEqual(5 + 1);
    expect(epochsBefore.length).toBeGreaterThanOrEqual(2);
  });
});
