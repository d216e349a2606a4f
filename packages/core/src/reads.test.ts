import { auditEvents, goldLabels, images, leases, reads } from "@xray/db";
import { and, eq, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../tests/db";
import type { Actor } from "./actor";
import { nextImage } from "./queue";
import { seedDataset, seedImages, seedUsers, TEST_SCHEMA } from "./queue.fixtures";
import { changeRead, flagImage, myReads, skipImage, submitRead, undoLastRead, validateLabel } from "./reads";

const { db } = await useTestDatabase({ max: 10 });
let ann: Actor;
let other: Actor;
let lead: Actor;

beforeAll(async () => {
  [ann, other] = (await seedUsers(db, "annotator", 2)) as [Actor, Actor];
  [lead] = (await seedUsers(db, "lead", 1)) as [Actor];
});

async function leased(datasetId: string, actor: Actor = ann): Promise<string> {
  const got = await nextImage(db, { actor, datasetId });
  if (!got) throw new Error("queue empty");
  return got.image.id;
}

const readsNeededOf = async (imageId: string) =>
  (await db.select({ n: images.readsNeeded }).from(images).where(eq(images.id, imageId)))[0]?.n;

describe("validateLabel", () => {
  it("accepts schema findings and refuses unknown keys, bad values and positive findings on a normal image", () => {
    expect(validateLabel(TEST_SCHEMA, "abnormal", { fracture: "positive", effusion: "uncertain" })).toEqual({
      gate: "abnormal",
      findings: { fracture: "positive", effusion: "uncertain" },
    });
    expect(validateLabel(TEST_SCHEMA, "normal", { fracture: "negative" }).gate).toBe("normal");
    expect(() => validateLabel(TEST_SCHEMA, "abnormal", { tumour: "positive" })).toThrow(/unknown finding/);
    expect(() => validateLabel(TEST_SCHEMA, "abnormal", { fracture: "yes" })).toThrow(/must be/);
    expect(() => validateLabel(TEST_SCHEMA, "normal", { fracture: "positive" })).toThrow(/normal image/);
    expect(() => validateLabel(TEST_SCHEMA, "maybe", {})).toThrow(/gate/);
  });
});

describe("submitRead", () => {
  it("stores the read, lowers readsNeeded, releases the lease and audits, all at once", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 2 });
    const imageId = await leased(datasetId);
    const read = await submitRead(db, {
      actor: ann,
      imageId,
      gate: "abnormal",
      findings: { fracture: "positive", effusion: "negative" },
      timeSpentMs: 4200,
      flagged: true,
      flagReason: "odd projection",
    });
    expect(read).toMatchObject({ kind: "read", gate: "abnormal", flagged: true, timeSpentMs: 4200 });
    expect(await readsNeededOf(imageId)).toBe(0);
    expect(await db.select().from(leases).where(eq(leases.imageId, imageId))).toHaveLength(0);
    const audit = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "read.submit"), eq(auditEvents.resourceId, read.id)));
    expect(audit).toHaveLength(1);
  });

  it("refuses a second submit with CONFLICT and keeps one row", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 1 });
    const imageId = await leased(datasetId);
    const input = { actor: ann, imageId, gate: "normal" as const, findings: {}, timeSpentMs: 1 };
    const results = await Promise.allSettled([submitRead(db, input), submitRead(db, input)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    await expect(submitRead(db, input)).rejects.toMatchObject({ code: "CONFLICT" });
    const rows = await db.select().from(reads).where(eq(reads.imageId, imageId));
    expect(rows).toHaveLength(1);
    expect(await readsNeededOf(imageId)).toBe(0);
  });

  it("refuses without a lease, and with bad findings (leaving the lease in place)", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 2 });
    const imageId = await leased(datasetId);
    await expect(
      submitRead(db, { actor: other, imageId, gate: "normal", findings: {}, timeSpentMs: 1 }),
    ).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    await expect(
      submitRead(db, {
        actor: ann,
        imageId,
        gate: "normal",
        findings: { fracture: "positive" },
        timeSpentMs: 1,
      }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    expect(await db.select().from(leases).where(eq(leases.imageId, imageId))).toHaveLength(1);
    expect(await readsNeededOf(imageId)).toBe(1);
  });
});

describe("skip, flag, undo, change", () => {
  it("a skip needs a reason and leaves readsNeeded alone", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 1 });
    const imageId = await leased(datasetId);
    await expect(skipImage(db, { actor: ann, imageId, reason: "  " })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    const skip = await skipImage(db, { actor: ann, imageId, reason: "not a stifle" });
    expect(skip).toMatchObject({ kind: "skip", gate: null, skipReason: "not a stifle" });
    expect(await readsNeededOf(imageId)).toBe(1);
  });

  it("flags an existing read and refuses when there is none", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 1 });
    const imageId = await leased(datasetId);
    await expect(flagImage(db, { actor: ann, imageId, reason: "x" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await submitRead(db, { actor: ann, imageId, gate: "normal", findings: {}, timeSpentMs: 1 });
    const flagged = await flagImage(db, { actor: ann, imageId, reason: "check the hip" });
    expect(flagged).toMatchObject({ flagged: true, flagReason: "check the hip" });
    const unflagged = await flagImage(db, { actor: ann, imageId, flagged: false });
    expect(unflagged).toMatchObject({ flagged: false, flagReason: null });
  });

  it("undo restores the lease and readsNeeded while the lease would hold, and refuses after", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 2 });
    const imageId = await leased(datasetId);
    await submitRead(db, {
      actor: ann,
      imageId,
      gate: "abnormal",
      findings: { fracture: "positive" },
      timeSpentMs: 1,
    });
    const undone = await undoLastRead(db, { actor: ann });
    expect(undone.imageId).toBe(imageId);
    expect(await readsNeededOf(imageId)).toBe(1);
    expect(await db.select().from(reads).where(eq(reads.imageId, imageId))).toHaveLength(0);
    // The next request returns the same image (the lease is back), and it can be redone.
    const back = await nextImage(db, { actor: ann, datasetId });
    expect(back?.image.id).toBe(imageId);
    expect(back?.resumed).toBe(true);
    const redo = await submitRead(db, { actor: ann, imageId, gate: "normal", findings: {}, timeSpentMs: 1 });
    expect(redo.gate).toBe("normal");
    // Past the lease: refused.
    await db
      .update(reads)
      .set({ leaseExpiresAt: sql`now() - interval '1 second'` })
      .where(eq(reads.id, redo.id));
    await expect(undoLastRead(db, { actor: ann, imageId })).rejects.toMatchObject({
      code: "PRECONDITION_FAILED",
    });
    await expect(undoLastRead(db, { actor: other })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("change is allowed until a gold label exists; a skip changed into a read counts as a read", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 1 });
    const imageId = await leased(datasetId);
    await skipImage(db, { actor: ann, imageId, reason: "unsure" });
    const changed = await changeRead(db, {
      actor: ann,
      imageId,
      gate: "abnormal",
      findings: { effusion: "positive" },
    });
    expect(changed).toMatchObject({ kind: "read", gate: "abnormal", skipReason: null });
    expect(await readsNeededOf(imageId)).toBe(0);
    await expect(
      changeRead(db, { actor: other, imageId, gate: "normal", findings: {} }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    await db
      .insert(goldLabels)
      .values({ imageId, datasetId, gate: "normal", findings: {}, adjudicatedBy: lead.id });
    await expect(changeRead(db, { actor: ann, imageId, gate: "normal", findings: {} })).rejects.toMatchObject(
      {
        code: "CONFLICT",
      },
    );
    await expect(undoLastRead(db, { actor: ann, imageId })).rejects.toMatchObject({ code: "CONFLICT" });
    const mine = await myReads(db, { actor: ann, datasetId });
    expect(mine.total).toBe(1);
    expect(mine.items[0]).toMatchObject({ imageId, adjudicated: true, canChange: false, canUndo: false });
  });
});

describe("myReads", () => {
  it("filters and pages the caller's reads only", async () => {
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 5 });
    for (let i = 0; i < 5; i++) {
      const imageId = await leased(datasetId);
      if (i === 4) await skipImage(db, { actor: ann, imageId, reason: "motion" });
      else
        await submitRead(db, {
          actor: ann,
          imageId,
          gate: i % 2 === 0 ? "normal" : "abnormal",
          findings: {},
          timeSpentMs: 10,
          flagged: i === 1,
        });
    }
    const all = await myReads(db, { actor: ann, datasetId, limit: 2 });
    expect(all.total).toBe(5);
    expect(all.items).toHaveLength(2);
    const page3 = await myReads(db, { actor: ann, datasetId, limit: 2, offset: 4 });
    expect(page3.items).toHaveLength(1);
    expect((await myReads(db, { actor: ann, datasetId, kind: "skip" })).total).toBe(1);
    expect((await myReads(db, { actor: ann, datasetId, gate: "normal" })).total).toBe(2);
    expect((await myReads(db, { actor: ann, datasetId, flagged: true })).total).toBe(1);
    expect((await myReads(db, { actor: other, datasetId })).total).toBe(0);
  });
});

describe("lock order", () => {
  it("a submit does not deadlock against a nextImage that holds the image row and then touches its lease", async () => {
    // What a nextImage that lost a race does: lock the image row (FOR UPDATE SKIP LOCKED), then
    // INSERT ... ON CONFLICT on the lease. submitRead must take the image row before the lease, or
    // the two wait for each other.
    const datasetId = await seedDataset(db);
    await seedImages(db, { datasetId, count: 1 });
    const imageId = await leased(datasetId);
    const client = await db.$client.connect();
    try {
      await client.query("begin");
      await client.query("select 1 from images where id = $1 for update", [imageId]);
      const submit = submitRead(db, { actor: ann, imageId, gate: "normal", findings: {}, timeSpentMs: 1 });
      // Let the submit reach its lock wait (it cannot finish while the image row is held).
      await new Promise((r) => setTimeout(r, 300));
      await client.query(
        `insert into leases (image_id, user_id, dataset_id, expires_at) values ($1, $2, $3, now() + interval '1 minute')
         on conflict (image_id) do update set user_id = excluded.user_id where leases.expires_at <= now()`,
        [imageId, other.id, datasetId],
      );
      await client.query("commit");
      await expect(submit).resolves.toMatchObject({ imageId, gate: "normal" });
    } finally {
      client.release();
    }
    expect(await readsNeededOf(imageId)).toBe(0);
  });
});
