import { auditEvents, images } from "@xray/db";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../tests/db";
import type { Actor } from "./actor";
import { trainingLabels } from "./labels";
import {
  seedDataset,
  seedImages,
  seedPredictions,
  seedReads,
  seedUsers,
  seedVersion,
  TEST_SCHEMA,
} from "./queue.fixtures";
import { changeRead } from "./reads";
import {
  type AgreementGold,
  type AgreementRead,
  adjudicate,
  agreementStats,
  computeAgreement,
  revertGold,
  reviewItem,
  reviewQueue,
  weekStart,
} from "./review";
import { promoteVersion } from "./versions";

const { db } = await useTestDatabase({ max: 5 });
let u: Actor[] = [];
let lead: Actor;
let researcher: Actor;

beforeAll(async () => {
  u = await seedUsers(db, "annotator", 3);
  [lead] = (await seedUsers(db, "lead", 1)) as [Actor];
  [researcher] = (await seedUsers(db, "researcher", 1)) as [Actor];
});
const uid = (i: number) => (u[i] as Actor).id;

describe("review queues", () => {
  it("lists reader disagreements per head, model disagreements above the threshold, and flagged images", async () => {
    const datasetId = await seedDataset(db, { readsPerImage: 2 });
    const [a, b, c, d] = (await seedImages(db, { datasetId, count: 4, readsNeeded: 0, returnIds: true })) as [
      string,
      string,
      string,
      string,
    ];
    await seedReads(db, datasetId, [
      // a: gate agrees, fracture differs.
      { imageId: a, userId: uid(0), gate: "abnormal", findings: { fracture: "positive" } },
      { imageId: a, userId: uid(1), gate: "abnormal", findings: { fracture: "negative" } },
      // b: gate differs (normal implies all findings negative, so fracture differs too).
      { imageId: b, userId: uid(0), gate: "abnormal", findings: { fracture: "positive" } },
      { imageId: b, userId: uid(1), gate: "normal", flagged: true },
      // c: full agreement.
      { imageId: c, userId: uid(0), gate: "normal" },
      { imageId: c, userId: uid(1), gate: "normal" },
      // d: one read only, flagged.
      { imageId: d, userId: uid(2), gate: "normal", flagged: true },
    ]);
    const readers = await reviewQueue(db, { datasetId, kind: "readers" });
    expect(readers.total).toBe(2);
    const byId = new Map(readers.items.map((i) => [i.imageId, i]));
    expect(byId.get(a)?.heads).toEqual(["fracture"]);
    expect(byId.get(b)?.heads).toEqual(["abnormal", "fracture"]);
    expect(byId.get(a)?.reads).toBe(2);

    // No active version: the model queue is empty.
    expect(await reviewQueue(db, { datasetId, kind: "model" })).toEqual({
      items: [],
      total: 0,
      versionId: null,
    });
    const v = await seedVersion(db, { datasetId, number: 1 });
    await seedPredictions(db, v, [
      { imageId: c, probs: { abnormal: 0.97, fracture: 0.5 } }, // confidently abnormal; both readers said normal
      { imageId: d, probs: { abnormal: 0.8 } }, // not confident enough at 0.9
    ]);
    await promoteVersion(db, { actor: researcher, versionId: v });
    const model = await reviewQueue(db, { datasetId, kind: "model", threshold: 0.9 });
    expect(model.versionId).toBe(v);
    expect(model.items.map((i) => [i.imageId, i.heads])).toEqual([[c, ["abnormal"]]]);
    expect(model.items[0]?.confidence).toBeCloseTo(0.97);
    const loose = await reviewQueue(db, { datasetId, kind: "model", threshold: 0.75 });
    expect(loose.items.map((i) => i.imageId).sort()).toEqual([c, d].sort());
    await expect(reviewQueue(db, { datasetId, kind: "model", threshold: 0.3 })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });

    const flagged = await reviewQueue(db, { datasetId, kind: "flagged" });
    expect(flagged.items.map((i) => i.imageId).sort()).toEqual([b, d].sort());

    // Settling b removes it from the queues.
    await adjudicate(db, {
      actor: lead,
      imageId: b,
      gate: "normal",
      findings: {},
      reason: "no fracture line",
    });
    expect((await reviewQueue(db, { datasetId, kind: "readers" })).items.map((i) => i.imageId)).toEqual([a]);
    expect((await reviewQueue(db, { datasetId, kind: "flagged" })).items.map((i) => i.imageId)).toEqual([d]);
  });
});

describe("adjudication", () => {
  it("supersedes gold with history, closes the image, stops reads training, and can be reverted with a reason", async () => {
    const datasetId = await seedDataset(db, { readsPerImage: 2 });
    const [a] = (await seedImages(db, { datasetId, count: 1, readsNeeded: 1, returnIds: true })) as [string];
    await seedReads(db, datasetId, [
      { imageId: a, userId: uid(0), gate: "abnormal", findings: { fracture: "positive" } },
    ]);
    await expect(
      adjudicate(db, { actor: u[0] as Actor, imageId: a, gate: "normal", findings: {} }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(
      adjudicate(db, { actor: lead, imageId: a, gate: "normal", findings: { fracture: "positive" } }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    const g1 = await adjudicate(db, {
      actor: lead,
      imageId: a,
      gate: "abnormal",
      findings: { fracture: "negative" },
    });
    const g2 = await adjudicate(db, {
      actor: lead,
      imageId: a,
      gate: "abnormal",
      findings: { fracture: "negative", effusion: "positive" },
      reason: "effusion visible on the lateral",
    });
    const item = await reviewItem(db, { imageId: a });
    expect(item.gold?.id).toBe(g2.id);
    expect(item.goldHistory.map((g) => g.id)).toEqual([g2.id, g1.id]);
    expect(item.goldHistory[1]?.supersededAt).not.toBeNull();
    expect(item.reads).toHaveLength(1);
    expect(item.image.readsNeeded).toBe(0);
    // The overturned read does not train; gold does.
    const labels = await trainingLabels(db, { datasetId });
    expect(labels.labels[0]).toMatchObject({
      source: "gold",
      findings: { fracture: "negative", effusion: "positive" },
    });
    // The reader can no longer change their read.
    await expect(
      changeRead(db, { actor: u[0] as Actor, imageId: a, gate: "normal", findings: {} }),
    ).rejects.toMatchObject({ code: "CONFLICT" });

    await expect(revertGold(db, { actor: lead, imageId: a, reason: " " })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    const revoked = await revertGold(db, { actor: lead, imageId: a, reason: "wrong image" });
    expect(revoked.revokedReason).toBe("wrong image");
    const after = await reviewItem(db, { imageId: a });
    expect(after.gold).toBeNull();
    // One read of two: back in the queue for one more.
    expect(after.image.readsNeeded).toBe(1);
    expect((await trainingLabels(db, { datasetId })).labels[0]?.source).toBe("consensus");
    await expect(revertGold(db, { actor: lead, imageId: a, reason: "again" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    const audits = await db
      .select({ action: auditEvents.action })
      .from(auditEvents)
      .where(and(eq(auditEvents.resourceId, a), eq(auditEvents.resourceType, "image")));
    expect(audits.map((x) => x.action).sort()).toEqual(["gold.adjudicate", "gold.adjudicate", "gold.revert"]);
    const [img] = await db.select().from(images).where(eq(images.id, a));
    expect(img?.readsNeeded).toBe(1);
  });

  it("shows the active version's probabilities in the review item and scopes by dataset", async () => {
    const datasetId = await seedDataset(db);
    const [a] = (await seedImages(db, { datasetId, count: 1, returnIds: true })) as [string];
    const v = await seedVersion(db, { datasetId, number: 1 });
    await seedPredictions(db, v, [{ imageId: a, probs: { abnormal: 0.3 }, uncertainty: 0.6 }]);
    expect((await reviewItem(db, { imageId: a })).model).toBeNull();
    await promoteVersion(db, { actor: researcher, versionId: v });
    expect((await reviewItem(db, { imageId: a })).model).toMatchObject({
      versionId: v,
      probs: { abnormal: 0.3 },
    });
    const other = await seedDataset(db);
    await expect(reviewItem(db, { imageId: a, datasetId: other })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });
});

describe("agreement", () => {
  it("computes Cohen per pair, Fleiss per head and reads against gold (hand-checked numbers)", () => {
    const t = new Date("2026-11-25T10:00:00Z");
    const reads: AgreementRead[] = [
      // Four images, two readers. Gate: agree on i1 (abn), i2 (norm), i3 (abn); disagree on i4.
      {
        imageId: "i1",
        userId: "A",
        gate: "abnormal",
        findings: { fracture: "positive" },
        createdAt: t,
      },
      {
        imageId: "i1",
        userId: "B",
        gate: "abnormal",
        findings: { fracture: "positive" },
        createdAt: t,
      },
      { imageId: "i2", userId: "A", gate: "normal", findings: {}, createdAt: t },
      { imageId: "i2", userId: "B", gate: "normal", findings: {}, createdAt: t },
      {
        imageId: "i3",
        userId: "A",
        gate: "abnormal",
        findings: { fracture: "negative" },
        createdAt: t,
      },
      { imageId: "i3", userId: "B", gate: "abnormal", findings: {}, createdAt: t },
      { imageId: "i4", userId: "A", gate: "abnormal", findings: {}, createdAt: t },
      { imageId: "i4", userId: "B", gate: "normal", findings: {}, createdAt: t },
    ];
    const gold = new Map<string, AgreementGold>([
      ["i1", { imageId: "i1", gate: "abnormal", findings: { fracture: "positive" } }],
      ["i4", { imageId: "i4", gate: "normal", findings: {} }],
    ]);
    const fig = computeAgreement(TEST_SCHEMA, reads, gold);
    const gateCohen = fig.cohen.find((c) => c.head === "abnormal");
    // Table: A=abn,B=abn 2; norm/norm 1; abn/norm 1 -> po = 0.75, pe = (3/4)(2/4) + (1/4)(2/4) = 0.5, kappa 0.5.
    expect(gateCohen).toMatchObject({ userA: "A", userB: "B", n: 4 });
    expect(gateCohen?.kappa).toBeCloseTo(0.5);
    // Fleiss on the gate with 2 raters per image over the same table: categories p = (3/8, 5/8);
    // pe = 0.53125, P-bar = 0.75 -> kappa = (0.75 - 0.53125) / 0.46875 = 0.4667.
    const gateFleiss = fig.fleiss.find((f) => f.head === "abnormal");
    expect(gateFleiss).toMatchObject({ raters: 2, items: 4 });
    expect(gateFleiss?.kappa).toBeCloseTo(0.46667, 4);
    // Fracture: no value in i3 (B) nor i4 (A, abnormal without findings): the pair has i1 and i2.
    expect(fig.cohen.find((c) => c.head === "fracture")?.n).toBe(2);
    // A against gold on the gate: i1 abn/abn (tp), i4 abn/norm (fp) -> sens 1, spec 0.
    expect(fig.vsGold.find((g) => g.userId === "A" && g.head === "abnormal")).toMatchObject({
      tp: 1,
      fp: 1,
      tn: 0,
      fn: 0,
      sensitivity: 1,
      specificity: 0,
    });
    expect(fig.vsGold.find((g) => g.userId === "B" && g.head === "abnormal")).toMatchObject({
      tp: 1,
      tn: 1,
      sensitivity: 1,
      specificity: 1,
    });
  });

  it("buckets by ISO week and reads the dataset's reads and gold", async () => {
    expect(weekStart(new Date("2026-11-26T05:00:00Z"))).toBe("2026-11-23");
    expect(weekStart(new Date("2026-11-23T00:00:00Z"))).toBe("2026-11-23");
    expect(weekStart(new Date("2026-11-22T23:59:59Z"))).toBe("2026-11-16");
    const datasetId = await seedDataset(db, { readsPerImage: 2 });
    const [a, b] = (await seedImages(db, { datasetId, count: 2, readsNeeded: 0, returnIds: true })) as [
      string,
      string,
    ];
    await seedReads(db, datasetId, [
      { imageId: a, userId: uid(0), gate: "abnormal", createdAt: new Date("2026-11-10T10:00:00Z") },
      { imageId: a, userId: uid(1), gate: "abnormal", createdAt: new Date("2026-11-11T10:00:00Z") },
      { imageId: b, userId: uid(0), gate: "normal", createdAt: new Date("2026-11-24T10:00:00Z") },
      { imageId: b, userId: uid(1), gate: "abnormal", createdAt: new Date("2026-11-24T11:00:00Z") },
    ]);
    await adjudicate(db, { actor: lead, imageId: b, gate: "normal", findings: {} });
    const stats = await agreementStats(db, { datasetId });
    expect(stats.heads).toEqual(["abnormal", "fracture", "effusion", "osteophytes"]);
    expect(stats.annotators.map((x) => x.reads)).toEqual([2, 2]);
    expect(stats.weekly.map((w) => [w.weekStart, w.reads])).toEqual([
      ["2026-11-09", 2],
      ["2026-11-23", 2],
    ]);
    const late = stats.weekly[1];
    expect(late?.vsGold.find((g) => g.userId === uid(1) && g.head === "abnormal")).toMatchObject({
      fp: 1,
      specificity: 0,
    });
    const since = await agreementStats(db, { datasetId, since: new Date("2026-11-20T00:00:00Z") });
    expect(since.weekly).toHaveLength(1);
  });
});
