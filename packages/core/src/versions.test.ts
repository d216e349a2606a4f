import { auditEvents, modelVersions } from "@xray/db";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../tests/db";
import type { Actor } from "./actor";
import { seedDataset, seedImages, seedPredictions, seedUsers, seedVersion } from "./queue.fixtures";
import { activeVersion, compareVersions, listVersions, promoteVersion } from "./versions";

const { db } = await useTestDatabase({ max: 10 });
let researcher: Actor;
let annotator: Actor;

beforeAll(async () => {
  [researcher] = (await seedUsers(db, "researcher", 1)) as [Actor];
  [annotator] = (await seedUsers(db, "annotator", 1)) as [Actor];
});

describe("versions", () => {
  it("promotes exactly one active version per dataset, rolls back by promoting an older one, audits", async () => {
    const datasetId = await seedDataset(db);
    const otherDataset = await seedDataset(db);
    const v1 = await seedVersion(db, { datasetId, number: 1 });
    const v2 = await seedVersion(db, { datasetId, number: 2 });
    const o1 = await seedVersion(db, { datasetId: otherDataset, number: 1 });
    expect(await activeVersion(db, datasetId)).toBeNull();
    await promoteVersion(db, { actor: researcher, versionId: o1 });
    expect((await promoteVersion(db, { actor: researcher, versionId: v1 })).previousActiveId).toBeNull();
    expect((await promoteVersion(db, { actor: researcher, versionId: v2 })).previousActiveId).toBe(v1);
    expect((await activeVersion(db, datasetId))?.id).toBe(v2);
    // Rollback.
    await promoteVersion(db, { actor: researcher, versionId: v1 });
    const all = await listVersions(db, { datasetId });
    expect(all.map((v) => [v.number, v.isActive])).toEqual([
      [2, false],
      [1, true],
    ]);
    // The other dataset's active version is untouched.
    expect((await activeVersion(db, otherDataset))?.id).toBe(o1);
    const audits = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "version.promote"), eq(auditEvents.datasetId, datasetId)));
    expect(audits).toHaveLength(3);
  });

  it("concurrent promotions leave exactly one active version", async () => {
    const datasetId = await seedDataset(db);
    const ids = await Promise.all([1, 2, 3, 4].map((number) => seedVersion(db, { datasetId, number })));
    await Promise.all(ids.map((versionId) => promoteVersion(db, { actor: researcher, versionId })));
    const active = await db
      .select()
      .from(modelVersions)
      .where(and(eq(modelVersions.datasetId, datasetId), eq(modelVersions.isActive, true)));
    expect(active).toHaveLength(1);
  });

  it("refuses annotators and unknown versions", async () => {
    const datasetId = await seedDataset(db);
    const v = await seedVersion(db, { datasetId, number: 1 });
    await expect(promoteVersion(db, { actor: annotator, versionId: v })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(
      promoteVersion(db, { actor: researcher, versionId: "00000000-0000-0000-0000-000000000000" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await activeVersion(db, datasetId)).toBeNull();
  });

  it("compares per-head metrics and prediction drift", async () => {
    const datasetId = await seedDataset(db);
    const ids = await seedImages(db, { datasetId, count: 4, returnIds: true });
    const a = await seedVersion(db, {
      datasetId,
      number: 1,
      labelCount: 10,
      metrics: { abnormal: { auroc: { value: 0.8 }, auprc: 0.5, atThreshold: { sensitivity: 0.7 } } },
    });
    const b = await seedVersion(db, {
      datasetId,
      number: 2,
      labelCount: 25,
      metrics: {
        heads: { abnormal: { auroc: { value: 0.9 }, auprc: 0.6 }, fracture: { auroc: { value: 0.7 } } },
      },
    });
    await seedPredictions(
      db,
      a,
      ids.map((imageId, i) => ({ imageId, probs: { abnormal: i < 2 ? 0.9 : 0.1 } })),
    );
    await seedPredictions(
      db,
      b,
      ids.map((imageId) => ({ imageId, probs: { abnormal: 0.9 } })),
    );
    const cmp = await compareVersions(db, { versionA: a, versionB: b });
    const abnormal = cmp.heads.find((h) => h.head === "abnormal");
    expect(abnormal?.delta.auroc).toBeCloseTo(0.1);
    expect(abnormal?.delta.auprc).toBeCloseTo(0.1);
    expect(abnormal?.delta.sensitivity).toBeNull();
    expect(cmp.heads.find((h) => h.head === "fracture")?.a).toBeNull();
    expect(cmp.labels.added).toBe(15);
    expect(cmp.predictions).toEqual({ shared: 4, disagreements: { abnormal: 2 } });
  });
});
