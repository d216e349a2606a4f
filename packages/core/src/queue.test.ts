import { images, leases } from "@xray/db";
import { eq, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../tests/db";
import type { Actor } from "./actor";
import { myLeases, nextImage, peekNext, releaseLease } from "./queue";
import { seedDataset, seedImages, seedUsers } from "./queue.fixtures";
import { skipImage, submitRead } from "./reads";

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
