/**
 * Fault (docs/security.md): a model version's files deleted from storage while rounds depend on
 * them. A round that reuses that version's encoder must fail at once with a reason naming the version
 * and the missing files, stored on the round; it is not retried (one attempt, one log line), no
 * version is written, and the worker goes on taking jobs.
 */
import { getRound, startRound } from "@xray/core";
import { seedDataset, seedUsers } from "@xray/core/queue.fixtures";
import { modelVersions } from "@xray/db";
import { ArtifactsMissingError, assertArtifacts } from "@xray/trainer/worker/errors";
import { startWorker, type WorkerHandle } from "@xray/trainer/worker/worker";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { useTestPlatform } from "./helpers/platform";

const STALE_MS = 1_500;

describe("model files deleted under a round", () => {
  let worker: WorkerHandle | null = null;
  afterAll(async () => {
    await worker?.stop();
  });

  it("a round reusing the version fails once with a clear reason, and the worker goes on", {
    timeout: 60_000,
  }, async () => {
    const platform = await useTestPlatform({ max: 6 });
    const { db, storage } = platform;
    const datasetId = await seedDataset(db, { name: "artifacts-gone" });
    const [researcher] = await seedUsers(db, "researcher", 1, "res");
    if (!researcher) throw new Error("no researcher");

    // Version 1 with its three TF.js files; then its weights are deleted (the row stays).
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
    await storage.putAt(
      `${v.artifactKey}/model.json`,
      JSON.stringify({ weightsManifest: [{ paths: ["group1-shard1of1.bin"], weights: [] }] }),
    );
    await storage.putAt(`${v.artifactKey}/metadata.json`, "{}");
    await storage.putAt(`${v.artifactKey}/group1-shard1of1.bin`, new Uint8Array(16));
    await expect(assertArtifacts(storage, v, "a check")).resolves.toBeUndefined();
    await storage.remove(`${v.artifactKey}/group1-shard1of1.bin`);
    await expect(assertArtifacts(storage, v, "a check")).rejects.toBeInstanceOf(ArtifactsMissingError);

    const lines: string[] = [];
    worker = await startWorker({
      platform,
      workerId: "w",
      pollMs: 50,
      staleAfterMs: STALE_MS,
      log: (l) => lines.push(l),
    });
    const start = () =>
      startRound(db, {
        actor: researcher,
        datasetId,
        jobs: worker!.jobs,
        config: { pretrain: { mode: "reuse", versionId: v.id } },
      });
    const settled = async (roundId: string) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await getRound(db, roundId);
        if (r.status === "failed" || r.status === "succeeded") return r;
        if (Date.now() > deadline) throw new Error(`round still ${r.status}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    };

    const round = await start();
    const failed = await settled(round.id);
    const reason =
      "the model files of version 1 are missing from storage (group1-shard1of1.bin under " +
      `models/${datasetId}/v1), so reusing its encoder cannot run: restore them from a backup, ` +
      "or start a round that does not use this version";
    expect(failed.status).toBe("failed");
    expect(failed.error).toBe(reason);
    expect(failed.attempts).toBe(1);
    expect(failed.versionId).toBeNull();

    // Several reaper periods later: still one attempt, no new version, one log line for it.
    await new Promise((res) => setTimeout(res, 3 * STALE_MS));
    const later = await getRound(db, round.id);
    expect(later).toMatchObject({ status: "failed", attempts: 1, error: reason });
    expect(await db.select().from(modelVersions).where(eq(modelVersions.datasetId, datasetId))).toHaveLength(
      1,
    );
    expect(lines.filter((l) => l.includes(reason))).toHaveLength(1);

    // The worker is alive and takes the next job (which fails the same clear way).
    const second = await settled((await start()).id);
    expect(second).toMatchObject({ status: "failed", attempts: 1, error: reason });
  });
});
