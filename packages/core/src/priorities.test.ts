import { images } from "@xray/db";
import { and, desc, eq, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../tests/db";
import type { Actor } from "./actor";
import { rankQueue } from "./priorities";
import { nextImage } from "./queue";
import { seedDataset, seedImages, seedPredictions, seedUsers, seedVersion } from "./queue.fixtures";
import { promoteVersion } from "./versions";

const { db } = await useTestDatabase({ max: 5 });
let ann: Actor;
let researcher: Actor;

beforeAll(async () => {
  [ann] = (await seedUsers(db, "annotator", 1)) as [Actor];
  [researcher] = (await seedUsers(db, "researcher", 1)) as [Actor];
});

async function priorities(datasetId: string): Promise<Map<string, number>> {
  const rows = await db
    .select({ id: images.id, p: images.priority })
    .from(images)
    .where(eq(images.datasetId, datasetId));
  return new Map(rows.map((r) => [r.id, r.p]));
}

async function queueOrder(datasetId: string): Promise<string[]> {
  const rows = await db
    .select({ id: images.id })
    .from(images)
    .where(and(eq(images.datasetId, datasetId), sql`${images.readsNeeded} > 0`))
    .orderBy(desc(images.priority), images.id);
  return rows.map((r) => r.id);
}

/** A unit vector near axis `axis` of an 8-d space, slightly jittered by `j`. */
const near = (axis: number, j: number) => {
  const v = Array.from({ length: 8 }, (_, d) => (d === axis ? 1 : 0.01 * ((j + d) % 3)));
  return v;
};

describe("cold start", () => {
  it("random: seeded, reproducible, and nextImage follows it", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 40 });
    const r1 = await rankQueue(db, { datasetId, seed: 7 });
    expect(r1).toMatchObject({ strategy: "random", versionId: null, ranked: 40, batch: [] });
    const p1 = await priorities(datasetId);
    expect([...p1.values()].every((p) => p >= 0 && p < 1)).toBe(true);
    await rankQueue(db, { datasetId, seed: 7 });
    expect(await priorities(datasetId)).toEqual(p1);
    await rankQueue(db, { datasetId, seed: 8 });
    expect(await priorities(datasetId)).not.toEqual(p1);
    const top = (await queueOrder(datasetId))[0];
    expect((await nextImage(db, { actor: ann, datasetId }))?.image.id).toBe(top);
  });

  it("cold-start: a k-center batch on self-supervised embeddings goes first, one per cluster", async () => {
    const datasetId = await seedDataset(db);
    const ids = await seedImages(db, { datasetId, count: 30, returnIds: true });
    const encoder = await seedVersion(db, { datasetId, number: 1 });
    // Three tight clusters of 10 images each.
    await seedPredictions(
      db,
      encoder,
      ids.map((imageId, i) => ({ imageId, probs: {}, embedding: near(i % 3, i) })),
    );
    const r = await rankQueue(db, { datasetId, strategy: "cold-start", batchSize: 3, seed: 1 });
    expect(r.strategy).toBe("cold-start");
    expect(r.versionId).toBeNull();
    expect(r.batch).toHaveLength(3);
    const clusters = r.batch.map((id) => ids.indexOf(id) % 3);
    expect(new Set(clusters).size).toBe(3);
    expect((await queueOrder(datasetId)).slice(0, 3)).toEqual(r.batch);
  });
});

describe("with a model version", () => {
  it("entropy: the most uncertain first; unscored images go last; read images are left alone", async () => {
    const datasetId = await seedDataset(db);
    const ids = await seedImages(db, { datasetId, count: 6, returnIds: true });
    const [a, b, c, d, e, f] = ids as [string, string, string, string, string, string];
    await db.update(images).set({ readsNeeded: 0, priority: 42 }).where(eq(images.id, f));
    const v = await seedVersion(db, { datasetId, number: 1 });
    await seedPredictions(db, v, [
      { imageId: a, probs: { abnormal: 0.02, fracture: 0.01 } },
      { imageId: b, probs: { abnormal: 0.5, fracture: 0.1 } },
      { imageId: c, probs: { abnormal: 0.9, fracture: 0.35 } },
      { imageId: d, probs: { abnormal: 0.97, fracture: 0.97 } },
      { imageId: f, probs: { abnormal: 0.5, fracture: 0.5 } },
    ]);
    // No active version yet: an uncertainty strategy is refused rather than silently replaced.
    await expect(rankQueue(db, { datasetId, strategy: "entropy" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    const r = await rankQueue(db, { datasetId, versionId: v, strategy: "entropy" });
    expect(r).toMatchObject({ strategy: "entropy", ranked: 4, unscored: 1, batch: [] });
    expect(await queueOrder(datasetId)).toEqual([b, c, d, a, e]);
    expect((await priorities(datasetId)).get(f)).toBe(42);
    expect((await priorities(datasetId)).get(e)).toBe(0);
    // Promoting with rerank ranks the queue by the promoted version; the active version is the default.
    await rankQueue(db, { datasetId, versionId: null, strategy: "random", seed: 3 });
    const promoted = await promoteVersion(db, {
      actor: researcher,
      versionId: v,
      rerank: { strategy: "entropy" },
    });
    expect(promoted.ranking).toMatchObject({ versionId: v, strategy: "entropy", ranked: 4 });
    expect(await queueOrder(datasetId)).toEqual([b, c, d, a, e]);
    const m = await rankQueue(db, { datasetId, strategy: "margin" });
    expect(m.versionId).toBe(v);
    expect((await queueOrder(datasetId))[0]).toBe(b);
  });

  it("entropy+kcenter: the batch is uncertain and diverse, then the rest by uncertainty", async () => {
    const datasetId = await seedDataset(db);
    const ids = await seedImages(db, { datasetId, count: 40, returnIds: true });
    const v = await seedVersion(db, { datasetId, number: 1 });
    // Images 0-19: very uncertain but all alike (one cluster); 20-29: uncertain, another cluster;
    // 30-39: confident.
    await seedPredictions(
      db,
      v,
      ids.map((imageId, i) => ({
        imageId,
        probs: { abnormal: i < 20 ? 0.5 : i < 30 ? 0.35 : 0.02 },
        embedding: near(i < 20 ? 0 : i < 30 ? 1 : 2, i),
      })),
    );
    const r = await rankQueue(db, {
      datasetId,
      versionId: v,
      strategy: "entropy+kcenter",
      batchSize: 2,
      candidateFactor: 15,
    });
    expect(r.strategy).toBe("entropy+kcenter");
    expect(r.batch).toHaveLength(2);
    const groups = r.batch.map((id) => {
      const i = ids.indexOf(id);
      return i < 20 ? "A" : i < 30 ? "B" : "C";
    });
    expect(new Set(groups)).toEqual(new Set(["A", "B"]));
    const order = await queueOrder(datasetId);
    expect(order.slice(0, 2)).toEqual(r.batch);
    // After the batch, every remaining cluster-A image comes before any cluster-B one (uncertainty order).
    const rest = order.slice(2).map((id) => ids.indexOf(id));
    const lastA = Math.max(...rest.map((i, k) => (i < 20 ? k : -1)));
    const firstB = Math.min(...rest.map((i, k) => (i >= 20 && i < 30 ? k : 99)));
    expect(lastA).toBeLessThan(firstB);
  });

  it("refuses a version of another dataset", async () => {
    const datasetId = await seedDataset(db);
    const other = await seedDataset(db);
    const v = await seedVersion(db, { datasetId: other, number: 1 });
    await expect(rankQueue(db, { datasetId, versionId: v })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
