/**
 * The lead review API end to end on a real database: two reads disagree, the image is in the
 * reader-vs-reader queue, a lead settles it (audited), the agreement figures score the readers
 * against the gold label, and withdrawing the gold label puts the image back.
 */
import { createCaller } from "@xray/api";
import { nextImage } from "@xray/core/queue";
import { submitRead } from "@xray/core/reads";
import { createUser } from "@xray/core/users";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../db";
import { type ApiFixtures, contextFor, seedApiFixtures } from "./fixtures";

describe("review router", () => {
  const tdb = useTestDatabase();
  let f: ApiFixtures;
  beforeAll(async () => {
    f = await seedApiFixtures((await tdb).db);
  });

  it("settles a reader-vs-reader disagreement, audits it, updates agreement, and reverts", async () => {
    const lead = createCaller(contextFor(f, f.users.lead));
    await lead.datasets.updateSettings({ id: f.datasetId, readsPerImage: 2 });
    const readers = await Promise.all(
      ["a", "b"].map((x) =>
        createUser(f.db, {
          email: `reader-${x}-${Date.now()}@test.local`,
          name: `reader ${x}`,
          role: "annotator",
          password: "Test-password-123",
          actor: null,
        }),
      ),
    );
    const [a, b] = readers.map((u) => ({ id: u.id, role: u.role }));
    if (!a || !b) throw new Error("readers not created");
    for (const [actor, gate] of [
      [a, "normal"],
      [b, "abnormal"],
    ] as const) {
      const item = await nextImage(f.db, { actor, datasetId: f.datasetId });
      expect(item?.image.id).toBe(f.imageId);
      await submitRead(f.db, {
        actor,
        imageId: f.imageId,
        gate,
        findings: gate === "abnormal" ? { hip_dysplasia: "positive", fracture: "negative" } : {},
        timeSpentMs: 3000,
      });
    }

    const queue = await lead.review.queue({ datasetId: f.datasetId, kind: "readers" });
    expect(queue.items.map((i) => i.imageId)).toEqual([f.imageId]);
    expect(queue.items[0]?.heads).toContain("abnormal");
    const before = await lead.review.agreement({ datasetId: f.datasetId });
    expect(before.vsGold).toEqual([]);

    await lead.review.adjudicate({
      imageId: f.imageId,
      gate: "abnormal",
      findings: { hip_dysplasia: "positive", fracture: "negative" },
      reason: "dysplasia visible on the VD view",
    });
    expect((await lead.review.queue({ datasetId: f.datasetId, kind: "readers" })).total).toBe(0);
    const item = await lead.review.item({ imageId: f.imageId });
    expect(item.gold?.gate).toBe("abnormal");
    expect(item.gold?.reason).toBe("dysplasia visible on the VD view");

    const after = await lead.review.agreement({ datasetId: f.datasetId });
    const gateOf = (userId: string) => after.vsGold.find((v) => v.userId === userId && v.head === "abnormal");
    expect(gateOf(b.id)).toMatchObject({ tp: 1, fn: 0, sensitivity: 1 });
    expect(gateOf(a.id)).toMatchObject({ tp: 0, fn: 1, sensitivity: 0 });

    const admin = createCaller(contextFor(f, f.users.admin));
    const audit = await admin.audit.list({ resourceId: f.imageId });
    expect(audit.map((e) => e.action)).toContain("gold.adjudicate");

    await expect(lead.review.revert({ imageId: f.imageId, reason: " " })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    await lead.review.revert({ imageId: f.imageId, reason: "second look: borderline" });
    const reverted = await lead.review.item({ imageId: f.imageId });
    expect(reverted.gold).toBeNull();
    expect(reverted.goldHistory[0]?.revokedReason).toBe("second look: borderline");
    expect((await lead.review.queue({ datasetId: f.datasetId, kind: "readers" })).total).toBe(1);
    expect((await admin.audit.list({ resourceId: f.imageId })).map((e) => e.action)).toContain("gold.revert");
  });

  it("estimates a round from the shared schema and refuses an invalid config", async () => {
    const researcher = createCaller(contextFor(f, f.users.researcher));
    const small = await researcher.rounds.estimate({
      datasetId: f.datasetId,
      config: { inputSize: 32, encoder: { width: 8, blocks: [1, 1] } },
    });
    const big = await researcher.rounds.estimate({ datasetId: f.datasetId, config: { inputSize: 128 } });
    expect(small.config.fixmatch.epochs).toBe(10);
    expect(big.seconds).toBeGreaterThan(small.seconds);
    await expect(
      researcher.rounds.estimate({ datasetId: f.datasetId, config: { inputSize: 500 } }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(researcher.rounds.start({ datasetId: f.datasetId, config: {} })).rejects.toMatchObject({
      code: "PRECONDITION_FAILED",
    });
  });
});
