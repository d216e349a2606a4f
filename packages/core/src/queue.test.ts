import { images, leases } from "@xray/db";
import { eq, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../tests/db";
import type { Actor } from "./actor";
import { modelAssist, myLeases, nextImage, peekNext, releaseLease, syncReadsNeeded } from "./queue";
import { seedDataset, seedImages, seedPredictions, seedUsers, seedVersion } from "./queue.fixtures";
import { skipImage, submitRead } from "./reads";
import { promoteVersion } from "./versions";

const { db } = await useTestDatabase({ max: 10 });
let annotators: Actor[] = [];

beforeAll(async () => {
  annotators = await seedUsers(db, "annotator", 3);
});
const a = (i: number): Actor => annotators[i] as Actor;

describe("nextImage", () => {
  it("serves images in priority order, one holder at a time, and returns a held lease again", async () => {
    const datasetId = await seedDataset(db);
    const ids = await seedImages(db, { datasetId, count: 5, returnIds: true });
    const first = await nextImage(db, { actor: a(0), datasetId });
    expect(first?.image.id).toBe(ids[0]);
    expect(first?.resumed).toBe(false);
    // A reload returns the same image, renewed.
    const again = await nextImage(db, { actor: a(0), datasetId });
    expect(again?.image.id).toBe(ids[0]);
    expect(again?.resumed).toBe(true);
    // Another annotator gets the next one.
    const other = await nextImage(db, { actor: a(1), datasetId });
    expect(other?.image.id).toBe(ids[1]);
    const held = await myLeases(db, { actor: a(0), datasetId });
    expect(held.map((l) => l.imageId)).toEqual([ids[0]]);
  });

  it("never serves an image the annotator read or skipped, and stops when readsNeeded is met", async () => {
    const datasetId = await seedDataset(db, { readsPerImage: 2 });
    const ids = await seedImages(db, { datasetId, count: 2, readsNeeded: 2, returnIds: true });
    const r1 = await nextImage(db, { actor: a(0), datasetId });
    expect(r1?.image.id).toBe(ids[0]);
    await submitRead(db, {
      actor: a(0),
      imageId: ids[0] as string,
      gate: "normal",
      findings: {},
      timeSpentMs: 5,
    });
    const r2 = await nextImage(db, { actor: a(0), datasetId });
    expect(r2?.image.id).toBe(ids[1]);
    await skipImage(db, { actor: a(0), imageId: ids[1] as string, reason: "blurred" });
    expect(await nextImage(db, { actor: a(0), datasetId })).toBeNull();
    // A second annotator still gets both (one read so far on the first, a skip does not count).
    const b1 = await nextImage(db, { actor: a(1), datasetId });
    expect(b1?.image.id).toBe(ids[0]);
    await submitRead(db, {
      actor: a(1),
      imageId: ids[0] as string,
      gate: "normal",
      findings: {},
      timeSpentMs: 5,
    });
    const [img0] = await db
      .select()
      .from(images)
      .where(eq(images.id, ids[0] as string));
    expect(img0?.readsNeeded).toBe(0);
    const [img1] = await db
      .select()
      .from(images)
      .where(eq(images.id, ids[1] as string));
    expect(img1?.readsNeeded).toBe(2);
    // The third annotator gets only the second image: the first has its two reads.
    const c1 = await nextImage(db, { actor: a(2), datasetId });
    expect(c1?.image.id).toBe(ids[1]);
  });

  it("hands an expired lease to someone else", async () => {
    const datasetId = await seedDataset(db);
    const ids = await seedImages(db, { datasetId, count: 1, returnIds: true });
    const got = await nextImage(db, { actor: a(0), datasetId });
    expect(got?.image.id).toBe(ids[0]);
    expect(await nextImage(db, { actor: a(1), datasetId })).toBeNull();
    await db
      .update(leases)
      .set({ expiresAt: sql`now() - interval '1 second'` })
      .where(eq(leases.imageId, ids[0] as string));
    const taken = await nextImage(db, { actor: a(1), datasetId });
    expect(taken?.image.id).toBe(ids[0]);
    // The first annotator's lease is gone: their submit is refused.
    await expect(
      submitRead(db, {
        actor: a(0),
        imageId: ids[0] as string,
        gate: "normal",
        findings: {},
        timeSpentMs: 1,
      }),
    ).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
  });

  it("concurrent callers never get the same image", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 30 });
    const many = await seedUsers(db, "annotator", 8, "burst");
    const got = await Promise.all(many.map((actor) => nextImage(db, { actor, datasetId })));
    const ids = got.map((g) => g?.image.id);
    expect(ids.every((id) => typeof id === "string")).toBe(true);
    expect(new Set(ids).size).toBe(many.length);
  });

  it("refuses an unknown dataset", async () => {
    await expect(
      nextImage(db, { actor: a(0), datasetId: "00000000-0000-0000-0000-000000000000" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("peekNext and releaseLease", () => {
  it("peeks the following image without leasing it, and a release returns the image to the queue", async () => {
    const datasetId = await seedDataset(db);
    const ids = await seedImages(db, { datasetId, count: 3, returnIds: true });
    const cur = await nextImage(db, { actor: a(0), datasetId });
    expect(cur?.image.id).toBe(ids[0]);
    expect(await peekNext(db, { actor: a(0), datasetId })).toBe(ids[1]);
    expect(await peekNext(db, { actor: a(0), datasetId, excludeImageIds: [ids[1] as string] })).toBe(ids[2]);
    // Peeking took no lease: another annotator gets that image.
    expect((await nextImage(db, { actor: a(1), datasetId }))?.image.id).toBe(ids[1]);
    expect(await releaseLease(db, { actor: a(1), imageId: ids[0] as string })).toBe(false);
    expect(await releaseLease(db, { actor: a(0), imageId: ids[0] as string })).toBe(true);
    expect((await nextImage(db, { actor: a(2), datasetId }))?.image.id).toBe(ids[0]);
  });
});

describe("query plan", () => {
  it("walks the partial queue index in priority order", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 20_000, randomPriority: true });
    await db.execute(sql`analyze images`);
    const res = await db.execute<{ "QUERY PLAN": string }>(sql`
      explain select i.id from images i
      where i.dataset_id = ${datasetId} and i.reads_needed > 0
        and not exists (select 1 from reads r where r.image_id = i.id and r.user_id = ${a(0).id})
        and not exists (select 1 from leases l where l.image_id = i.id and l.expires_at > now())
      order by i.priority desc nulls last, i.id limit 1 for update of i skip locked`);
    const plan = res.rows.map((r) => r["QUERY PLAN"]).join("\n");
    expect(plan).toContain("images_queue_idx");
    expect(plan).not.toMatch(/\bSort\b/);
  });
});

describe("syncReadsNeeded and modelAssist", () => {
  it("recomputes readsNeeded after the reads-per-image setting changes", async () => {
    const datasetId = await seedDataset(db, { readsPerImage: 1 });
    const ids = await seedImages(db, { datasetId, count: 3, returnIds: true });
    const got = await nextImage(db, { actor: a(0), datasetId });
    await submitRead(db, {
      actor: a(0),
      imageId: got?.image.id as string,
      gate: "normal",
      findings: {},
      timeSpentMs: 1,
    });
    await db.execute(sql`update datasets set reads_per_image = 3 where id = ${datasetId}`);
    expect(await syncReadsNeeded(db, { datasetId, actor: null })).toBe(3);
    const rows = await db
      .select({ id: images.id, n: images.readsNeeded })
      .from(images)
      .where(eq(images.datasetId, datasetId));
    const byId = new Map(rows.map((r) => [r.id, r.n]));
    expect(byId.get(ids[0] as string)).toBe(2);
    expect(byId.get(ids[1] as string)).toBe(3);
    expect(await syncReadsNeeded(db, { datasetId, actor: null })).toBe(0);
  });

  it("hides the model's output in blind mode until the read is stored", async () => {
    const datasetId = await seedDataset(db);
    const [imageId] = (await seedImages(db, { datasetId, count: 1, returnIds: true })) as [string];
    const [researcher] = (await seedUsers(db, "researcher", 1, "assist")) as [Actor];
    const v = await seedVersion(db, { datasetId, number: 1 });
    await seedPredictions(db, v, [{ imageId, probs: { abnormal: 0.8 } }]);
    await promoteVersion(db, { actor: researcher, versionId: v });
    await nextImage(db, { actor: a(0), datasetId });
    await expect(modelAssist(db, { actor: a(0), imageId })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await db.execute(sql`update datasets set reading_mode = 'assisted' where id = ${datasetId}`);
    expect(await modelAssist(db, { actor: a(0), imageId })).toMatchObject({
      versionId: v,
      probs: { abnormal: 0.8 },
    });
    // Someone who neither holds nor read the image sees nothing.
    await expect(modelAssist(db, { actor: a(1), imageId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await db.execute(sql`update datasets set reading_mode = 'blind' where id = ${datasetId}`);
    await submitRead(db, { actor: a(0), imageId, gate: "abnormal", findings: {}, timeSpentMs: 1 });
    expect(await modelAssist(db, { actor: a(0), imageId })).toMatchObject({ versionNumber: 1 });
  });
});
