/**
 * 20 simulated annotators ask for images and answer them in parallel, each on its own pool
 * connection, until the queue is exhausted. Checks: no image is held by two annotators at once, no
 * acknowledged read is lost or doubled, every image ends with exactly the reads it needed.
 */
import type { Actor } from "@xray/core";
import { nextImage } from "@xray/core/queue";
import { seedDataset, seedImages, seedUsers } from "@xray/core/queue.fixtures";
import { type SubmitReadOptions, skipImage, submitRead } from "@xray/core/reads";
import { images, leases, reads } from "@xray/db";
import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { useTestDatabase } from "../db";

const ANNOTATORS = 20;
const IMAGES = 150;
const READS_PER_IMAGE = 2;

const { db } = await useTestDatabase({ max: 30 });

interface Holding {
  imageId: string;
  userId: string;
  /** After nextImage returned: the lease was committed before this instant. */
  from: number;
  /** Before submit was called: the lease was still held (undeleted) after this instant. */
  to: number;
}

describe("20 annotators in parallel", () => {
  it("never share a lease and never lose or double a read", async () => {
    const datasetId = await seedDataset(db, { readsPerImage: READS_PER_IMAGE });
    await seedImages(db, { datasetId, count: IMAGES, readsNeeded: READS_PER_IMAGE, randomPriority: true });
    const annotators = await seedUsers(db, "annotator", ANNOTATORS, "conc");
    const holdings: Holding[] = [];
    const acknowledged: { id: string; kind: "read" | "skip"; imageId: string; userId: string }[] = [];
    let conflictsOnRetry = 0;
    let resumedSame = 0;

    async function stillNeedsMe(actor: Actor): Promise<boolean> {
      const res = await db.execute(sql`
        select 1 from images i where i.dataset_id = ${datasetId} and i.reads_needed > 0
          and not exists (select 1 from reads r where r.image_id = i.id and r.user_id = ${actor.id})
        limit 1`);
      return res.rows.length > 0;
    }

    async function annotate(actor: Actor, index: number) {
      let n = 0;
      for (;;) {
        const item = await nextImage(db, { actor, datasetId });
        if (!item) {
          // Nothing free for me now. Others may still hold images they will skip (a skip puts the
          // image back for the rest), so stop only when no image still needs a read of mine.
          if (!(await stillNeedsMe(actor))) return;
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        const from = performance.now();
        n++;
        // Every 7th image the page "reloads": the same image must come back.
        if (n % 7 === 0) {
          const again = await nextImage(db, { actor, datasetId });
          if (again?.image.id === item.image.id && again.resumed) resumedSame++;
          else throw new Error(`reload gave ${again?.image.id} instead of ${item.image.id}`);
        }
        const to = performance.now();
        holdings.push({ imageId: item.image.id, userId: actor.id, from, to });
        if ((index + n) % 11 === 0) {
          const skip = await skipImage(db, { actor, imageId: item.image.id, reason: "poor positioning" });
          acknowledged.push({ id: skip.id, kind: "skip", imageId: item.image.id, userId: actor.id });
          continue;
        }
        const input: SubmitReadOptions = {
          actor,
          imageId: item.image.id,
          gate: n % 3 === 0 ? "abnormal" : "normal",
          findings: n % 3 === 0 ? { fracture: "positive" } : {},
          timeSpentMs: 1000 + n,
        };
        const read = await submitRead(db, input);
        acknowledged.push({ id: read.id, kind: "read", imageId: item.image.id, userId: actor.id });
        // A client retry of an acknowledged submit must be refused, not stored twice.
        if (n % 5 === 0) {
          try {
            await submitRead(db, input);
          } catch (err) {
            if ((err as { code?: string }).code === "CONFLICT") conflictsOnRetry++;
            else throw err;
          }
        }
      }
    }

    const started = performance.now();
    await Promise.all(annotators.map((actor, i) => annotate(actor, i)));
    const elapsed = performance.now() - started;

    // No two annotators held one image at overlapping times. The recorded windows lie inside the
    // true lease lifetimes, so an overlap here would be a real double lease.
    const byImage = new Map<string, Holding[]>();
    for (const h of holdings) byImage.set(h.imageId, [...(byImage.get(h.imageId) ?? []), h]);
    let overlaps = 0;
    for (const hs of byImage.values()) {
      hs.sort((x, y) => x.from - y.from);
      for (let i = 1; i < hs.length; i++) {
        const prev = hs[i - 1] as Holding;
        const cur = hs[i] as Holding;
        if (cur.from < prev.to) overlaps++;
        if (cur.userId === prev.userId) overlaps++;
      }
    }
    expect(overlaps).toBe(0);

    // Every acknowledged read or skip is in the database exactly once, and nothing else is.
    const rows = await db.select().from(reads).where(eq(reads.datasetId, datasetId));
    expect(rows.length).toBe(acknowledged.length);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(acknowledged.map((a) => a.id)));
    expect(new Set(rows.map((r) => `${r.imageId}/${r.userId}`)).size).toBe(rows.length);

    // Each image got exactly the reads it needed (skips do not count) and left the queue.
    const readCount = new Map<string, number>();
    for (const r of rows)
      if (r.kind === "read") readCount.set(r.imageId, (readCount.get(r.imageId) ?? 0) + 1);
    expect(readCount.size).toBe(IMAGES);
    // Listing the odd counts makes a failure say whether an image was read too often or too little.
    expect([...readCount.values()].filter((c) => c !== READS_PER_IMAGE)).toEqual([]);
    const left = await db
      .select({ n: images.readsNeeded })
      .from(images)
      .where(eq(images.datasetId, datasetId));
    expect(left.filter((r) => r.n !== 0)).toEqual([]);
    expect(await db.select().from(leases).where(eq(leases.datasetId, datasetId))).toHaveLength(0);

    expect(conflictsOnRetry).toBeGreaterThan(0);
    expect(resumedSame).toBeGreaterThan(0);
    expect(acknowledged.filter((a) => a.kind === "skip").length).toBeGreaterThan(0);
    console.log(
      `concurrency: ${ANNOTATORS} annotators, ${acknowledged.length} submits (${rows.filter((r) => r.kind === "skip").length} skips) in ${(elapsed / 1000).toFixed(1)} s; ${conflictsOnRetry} retried submits refused`,
    );
  });
});
