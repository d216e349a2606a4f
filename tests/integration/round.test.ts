import { cancelRound, createUser, getRound, type Platform, startRound } from "@xray/core";
import { seedDemo } from "@xray/core/import/demo";
import { nextImage } from "@xray/core/queue";
import { activeVersion, listVersions } from "@xray/core/versions";
import { images, predictions } from "@xray/db";
import { startWorker, type WorkerHandle } from "@xray/trainer/worker/worker";
import { and, desc, eq, gt, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestPlatform } from "./helpers/platform";

// A real round on real radiographs (the bundled knee demo: 227 images, KL grades as findings), tiny
// model and few epochs so it runs in well under a minute on two cores.
const TINY_ROUND = {
  seed: 7,
  inputSize: 32,
  encoder: { width: 8, blocks: [1, 1] },
  fixmatch: { epochs: 2, batchSize: 16, mu: 1, threshold: 0.9 },
  scoring: { strategy: "entropy", heatmapsTop: 3, batchSize: 10 },
};

async function waitForRound(platform: Platform, roundId: string, done: (s: string) => boolean, ms = 240_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await getRound(platform.db, roundId);
    if (done(r.status)) return r;
    if (Date.now() > deadline) throw new Error(`round still ${r.status} (${JSON.stringify(r.progress)})`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

describe("training round on real X-rays", () => {
  let platform: Platform;
  let worker: WorkerHandle;
  let datasetId: string;
  let researcher: { id: string; role: "researcher" };
  let annotator: { id: string; role: "annotator" };

  beforeAll(async () => {
    platform = await useTestPlatform({ max: 8 });
    const seeded = await seedDemo({ db: platform.db, storage: platform.storage });
    datasetId = seeded.knee.datasetId;
    const r = await createUser(platform.db, {
      email: "res@test.org",
      role: "researcher",
      password: "x",
      actor: null,
      skipPolicy: true,
    });
    const a = await createUser(platform.db, {
      email: "ann@test.org",
      role: "annotator",
      password: "x",
      actor: null,
      skipPolicy: true,
    });
    researcher = { id: r.id, role: "researcher" };
    annotator = { id: a.id, role: "annotator" };
    worker = await startWorker({ platform, pollMs: 100, log: () => {} });
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it("trains, evaluates per head, saves a version, scores the pool and re-ranks the queue", async () => {
    const round = await startRound(platform.db, {
      actor: researcher,
      datasetId,
      config: TINY_ROUND,
      jobs: worker.jobs,
    });
    const done = await waitForRound(platform, round.id, (s) => s === "succeeded" || s === "failed");
    expect(done.error).toBeNull();
    expect(done.status).toBe("succeeded");
    expect(done.series.filter((m) => m.stage === "fit").map((m) => m.epoch)).toEqual([1, 2]);
    expect(done.series[0]?.values).toHaveProperty("maskRate");

    const versions = await listVersions(platform.db, { datasetId });
    expect(versions).toHaveLength(1);
    const version = versions[0]!;
    expect(version.roundId).toBe(round.id);
    expect(version.labelSnapshot.count).toBeGreaterThan(50);
    expect(version.labelSnapshot.hash).toMatch(/^[0-9a-f]{64}$/);
    for (const head of ["abnormal", "kl0", "kl4"]) {
      const m = version.metrics[head] as { auroc?: { value: number | null } } | undefined;
      expect(m, head).toBeDefined();
    }
    const abnormal = version.metrics.abnormal as { auroc: { value: number } };
    expect(abnormal.auroc.value).toBeGreaterThan(0);
    expect(abnormal.auroc.value).toBeLessThanOrEqual(1);
    expect(await platform.storage.exists(`${version.artifactKey}/model.json`)).toBe(true);
    expect(await platform.storage.exists(`${version.artifactKey}/metadata.json`)).toBe(true);

    // Promoted because none was active; every image scored.
    expect((await activeVersion(platform.db, datasetId))?.id).toBe(version.id);
    const [{ n: scored } = { n: 0 }] = await platform.db
      .select({ n: sql<number>`count(*)::int` })
      .from(predictions)
      .where(eq(predictions.versionId, version.id));
    const [{ n: total } = { n: 0 }] = await platform.db
      .select({ n: sql<number>`count(*)::int` })
      .from(images)
      .where(eq(images.datasetId, datasetId));
    expect(scored).toBe(total);

    // The queue now follows the new uncertainties: priority order is uncertainty order.
    const queue = await platform.db
      .select({ id: images.id, priority: images.priority, uncertainty: predictions.uncertainty })
      .from(images)
      .innerJoin(predictions, and(eq(predictions.imageId, images.id), eq(predictions.versionId, version.id)))
      .where(and(eq(images.datasetId, datasetId), gt(images.readsNeeded, 0)))
      .orderBy(desc(images.priority));
    expect(queue.length).toBeGreaterThan(20);
    for (let i = 1; i < queue.length; i++) {
      expect(queue[i - 1]!.uncertainty).toBeGreaterThanOrEqual(queue[i]!.uncertainty - 1e-9);
    }
    const next = await nextImage(platform.db, { actor: annotator, datasetId });
    expect(next?.image.id).toBe(queue[0]!.id);

    // Heatmaps for the head of the queue, one per head.
    const [top] = await platform.db
      .select({ heatmaps: predictions.heatmaps })
      .from(predictions)
      .where(and(eq(predictions.versionId, version.id), eq(predictions.imageId, queue[0]!.id)));
    expect(Object.keys(top?.heatmaps ?? {})).toContain("abnormal");
  });

  it("cancels a running round within seconds and saves no version", async () => {
    const round = await startRound(platform.db, {
      actor: researcher,
      datasetId,
      config: { ...TINY_ROUND, fixmatch: { ...TINY_ROUND.fixmatch, epochs: 200 } },
      jobs: worker.jobs,
    });
    await waitForRound(platform, round.id, (s) => s === "running");
    // Cancel once training steps are under way (not while images are still decoding): the trainer
    // checks before every step, not only between epochs (about ten steps an epoch here).
    for (let i = 0; ; i++) {
      const r = await getRound(platform.db, round.id);
      if ((r.progress.step ?? 0) > 0 || i > 600) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const asked = Date.now();
    await cancelRound(platform.db, { actor: researcher, roundId: round.id });
    const done = await waitForRound(
      platform,
      round.id,
      (s) => s === "cancelled" || s === "succeeded",
      30_000,
    );
    expect(done.status).toBe("cancelled");
    expect(Date.now() - asked).toBeLessThan(8_000);
    expect(done.versionId).toBeNull();
    expect(await listVersions(platform.db, { datasetId })).toHaveLength(1);
  });
});
