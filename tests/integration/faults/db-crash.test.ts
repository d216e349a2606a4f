/**
 * Fault: PostgreSQL crashes (SIGKILL of the postmaster) while 8 annotators take images and submit
 * reads, then comes back on the same port. The same pool (what the web server and workers hold)
 * must reconnect by itself and the queue must go on; afterwards every acknowledged read is stored
 * exactly once, nothing is half-written (each read row is whole, each image has at most the reads
 * it needed) and no image was held by two annotators at once.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Actor } from "@xray/core";
import { nextImage } from "@xray/core/queue";
import { seedDataset, seedImages, seedUsers } from "@xray/core/queue.fixtures";
import { submitRead } from "@xray/core/reads";
import { closeDb, createDb, leases, reads } from "@xray/db";
import { type EmbeddedServer, startEmbeddedPostgres } from "@xray/db/embedded";
import { applyMigrations } from "@xray/db/migrate";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";

const ANNOTATORS = 8;
const IMAGES = 3000;

describe("PostgreSQL crash mid-load", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "xray-fault-pg-"));
  chmodSync(dir, 0o755);
  const pgDir = path.join(dir, "pg");
  let server: EmbeddedServer | null = null;
  afterAll(async () => {
    await server?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it("the pool reconnects by itself and no acknowledged read is lost or doubled", {
    timeout: 180_000,
  }, async () => {
    server = await startEmbeddedPostgres({ dataDir: pgDir });
    const port = server.port;
    const db = createDb({ url: server.url, max: ANNOTATORS + 2, applicationName: "fault-test" });
    const warn = console.warn;
    console.warn = () => {}; // the pool's "idle connection error" lines during the outage
    try {
      await applyMigrations(db);
      const datasetId = await seedDataset(db, { readsPerImage: 1 });
      await seedImages(db, { datasetId, count: IMAGES, readsNeeded: 1, randomPriority: true });
      const annotators = await seedUsers(db, "annotator", ANNOTATORS, "fault");

      let phase: "before" | "down" | "after" | "stop" = "before";
      const acknowledged: { id: string; imageId: string; userId: string; phase: string }[] = [];
      const holdings: { imageId: string; userId: string; from: number; to: number }[] = [];
      let failedCalls = 0;

      async function annotate(actor: Actor) {
        while (phase !== "stop") {
          try {
            const item = await nextImage(db, { actor, datasetId });
            if (!item) return;
            const from = performance.now();
            const read = await submitRead(db, {
              actor,
              imageId: item.image.id,
              gate: "normal",
              findings: {},
              timeSpentMs: 500,
            });
            holdings.push({ imageId: item.image.id, userId: actor.id, from, to: performance.now() });
            acknowledged.push({ id: read.id, imageId: item.image.id, userId: actor.id, phase });
          } catch {
            failedCalls++;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }

      const load = Promise.all(annotators.map((a) => annotate(a)));
      const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
      await wait(2000);
      // Crash: SIGKILL the postmaster (its pid is the first line of postmaster.pid).
      const pid = Number(readFileSync(path.join(pgDir, "postmaster.pid"), "utf8").split("\n")[0]);
      process.kill(pid, "SIGKILL");
      phase = "down";
      await wait(1500);
      server = await startEmbeddedPostgres({ dataDir: pgDir, port });
      phase = "after";
      const afterAt = acknowledged.length;
      const deadline = Date.now() + 60_000;
      while (acknowledged.length < afterAt + 50 && Date.now() < deadline) await wait(100);
      phase = "stop";
      await load;

      const before = acknowledged.filter((a) => a.phase === "before").length;
      const after = acknowledged.filter((a) => a.phase === "after").length;
      expect(before, "reads acknowledged before the crash").toBeGreaterThan(0);
      expect(failedCalls, "calls that failed while the database was down").toBeGreaterThan(0);
      expect(after, "reads acknowledged after the restart, on the same pool").toBeGreaterThanOrEqual(50);

      const rows = await db.select().from(reads).where(eq(reads.datasetId, datasetId));
      const stored = new Map(rows.map((r) => [r.id, r]));
      // Every acknowledged read is there, whole, exactly once.
      for (const a of acknowledged) {
        const row = stored.get(a.id);
        expect(row, `acknowledged read ${a.id}`).toBeDefined();
        expect(row).toMatchObject({ imageId: a.imageId, userId: a.userId, kind: "read", gate: "normal" });
      }
      expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
      // A submit cut by the crash may have committed without its answer arriving: at most one per
      // failed call, never a duplicate of an image's read.
      expect(rows.length - acknowledged.length).toBeGreaterThanOrEqual(0);
      expect(rows.length - acknowledged.length).toBeLessThanOrEqual(failedCalls);
      const perImage = new Map<string, number>();
      for (const r of rows) perImage.set(r.imageId, (perImage.get(r.imageId) ?? 0) + 1);
      expect([...perImage.values()].filter((n) => n > 1)).toEqual([]);
      // No image was held by two annotators at once (readsPerImage 1: one holder per image at all).
      const holders = new Map<string, Set<string>>();
      for (const h of holdings) holders.set(h.imageId, (holders.get(h.imageId) ?? new Set()).add(h.userId));
      expect([...holders.values()].filter((s) => s.size > 1)).toEqual([]);
      // Leases of the stopped annotators may remain (they expire); none is for an image already read.
      const open = await db.select().from(leases).where(eq(leases.datasetId, datasetId));
      expect(open.filter((l) => perImage.has(l.imageId))).toEqual([]);
      console.log(
        `db crash: ${before} reads before, ${failedCalls} failed calls while down, ${after} after the restart; ${rows.length} stored`,
      );
    } finally {
      console.warn = warn;
      await closeDb(db);
    }
  });
});
