/**
 * Fault (docs/security.md): the production web server is SIGKILLed while annotators submit reads.
 *
 * A second production web server of the built portal (as scripts/start.ts runs it: its own port,
 * the e2e database and data folder, the same auth secret) is started as a detached process group.
 * Twelve annotators sign in over HTTP and loop `queue.next` -> `reads.submit` through the real tRPC
 * endpoint; once enough reads are acknowledged the whole group is SIGKILLed with requests in
 * flight, and the server is started again. Then, in the database:
 * - every acknowledged read is stored exactly once, whole (its image, annotator, gate), with its
 *   `read.submit` audit event, and each image's `reads_needed` agrees with its stored reads (submit
 *   writes the lease delete, the read, the counter and the audit row in one statement);
 * - reads stored without an acknowledgement are at most the submits cut by the kill;
 * - a lease the dead server handed out is given back to the same annotator by the restarted one
 *   (or has expired), and every annotator reads again through the restarted server.
 */
import { expect, test } from "@playwright/test";
import type { Actor } from "@xray/core/actor";
import { seedDataset, seedImages } from "@xray/core/queue.fixtures";
import { auditEvents, closeDb, type Db, datasets, images, leases, reads, users } from "@xray/db";
import { and, eq, inArray, sql } from "drizzle-orm";
import { freePort, HttpSession, TrpcError, WebServer } from "./fault-server";
import { makeAnnotator, openE2eDb } from "./platform";

const ANNOTATORS = 12;
const READS_PER_IMAGE = 2;
const IMAGES = 400;
/** Reads acknowledged before the kill, and submits in flight at it (so it lands mid-submit). */
const KILL_AFTER = 40;
const IN_FLIGHT_AT_KILL = 3;
const PASSWORD = "E2e-annotator-pass-1";

type Next = { image: { id: string }; resumed: boolean } | null;

async function leasesOf(db: Db, datasetId: string) {
  return await db
    .select({ imageId: leases.imageId, userId: leases.userId, expiresAt: leases.expiresAt })
    .from(leases)
    .where(eq(leases.datasetId, datasetId));
}

async function cleanUp(db: Db, datasetId: string | null, actors: Actor[]) {
  if (datasetId) await db.delete(datasets).where(eq(datasets.id, datasetId));
  if (actors.length > 0)
    await db.delete(users).where(
      inArray(
        users.id,
        actors.map((a) => a.id),
      ),
    );
}

test("web server SIGKILLed mid-submit: every acknowledged read is stored once and whole; the restarted server goes on", async () => {
  test.setTimeout(120_000);
  const t0 = performance.now();
  const db = openE2eDb();
  const server = new WebServer(await freePort());
  let datasetId: string | null = null;
  const actors: Actor[] = [];
  try {
    // A dataset of its own (queue rows only: no image files are fetched), removed afterwards.
    datasetId = await seedDataset(db, {
      name: `fault-web-kill-${Date.now()}`,
      readsPerImage: READS_PER_IMAGE,
    });
    const dsId = datasetId;
    await seedImages(db, {
      datasetId: dsId,
      count: IMAGES,
      readsNeeded: READS_PER_IMAGE,
      randomPriority: true,
    });
    const clients: HttpSession[] = [];
    for (let i = 0; i < ANNOTATORS; i++) {
      const actor = await makeAnnotator(db, `fault-kill-${i}`);
      actors.push(actor);
      const [u] = await db.select({ email: users.email }).from(users).where(eq(users.id, actor.id));
      clients.push(new HttpSession(actor, u?.email ?? "", PASSWORD, server));
    }

    const firstStartMs = await server.start();
    await Promise.all(clients.map((c) => c.signIn()));

    // Load: each annotator loops next -> submit until the server dies.
    const acknowledged: { id: string; imageId: string; userId: string }[] = [];
    let inFlightSubmits = 0;
    let cutSubmits = 0;
    const cut: { client: HttpSession; imageId: string; gate: "normal" | "abnormal" }[] = [];
    let failedCalls = 0;
    let killed = false;
    const loop = async (c: HttpSession, i: number) => {
      while (!killed) {
        let imageId: string | null = null;
        try {
          const item = await c.trpc<Next>("queue.next", { datasetId: dsId });
          if (!item) return;
          imageId = item.image.id;
        } catch {
          failedCalls++;
          return;
        }
        inFlightSubmits++;
        const gate = i % 2 === 0 ? "normal" : "abnormal";
        try {
          const read = await c.trpc<{ id: string; imageId: string }>("reads.submit", {
            imageId,
            gate,
            findings: i % 2 === 0 ? {} : { fracture: "positive" },
            timeSpentMs: 1000 + i,
          });
          acknowledged.push({ id: read.id, imageId, userId: c.actor.id });
        } catch {
          // Cut by the kill: the read may or may not have been committed; it was not acknowledged.
          cutSubmits++;
          failedCalls++;
          cut.push({ client: c, imageId, gate });
          return;
        } finally {
          inFlightSubmits--;
        }
      }
    };
    const load = Promise.all(clients.map((c, i) => loop(c, i)));
    const waitUntil = Date.now() + 45_000;
    while (
      (acknowledged.length < KILL_AFTER || inFlightSubmits < IN_FLIGHT_AT_KILL) &&
      Date.now() < waitUntil
    )
      await new Promise((r) => setTimeout(r, 1));
    const inFlightAtKill = inFlightSubmits;
    await server.kill();
    expect(acknowledged.length, "reads acknowledged before the kill").toBeGreaterThanOrEqual(KILL_AFTER);
    expect(inFlightAtKill, "submits in flight when the server was killed").toBeGreaterThanOrEqual(1);
    killed = true;
    await load;
    const ackedBeforeKill = acknowledged.length;

    // Restart the same build on the same port; the annotators' session cookies still hold (JWT).
    const restartMs = await server.start();

    // 1. Every acknowledged read is stored exactly once, whole, with its audit event.
    const rows = await db.select().from(reads).where(eq(reads.datasetId, dsId));
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const a of acknowledged) {
      const row = byId.get(a.id);
      expect(row, `acknowledged read ${a.id}`).toBeDefined();
      expect(row).toMatchObject({ imageId: a.imageId, userId: a.userId, kind: "read" });
      expect(row?.gate === "normal" || row?.gate === "abnormal").toBe(true);
    }
    expect(
      new Set(rows.map((r) => `${r.imageId}/${r.userId}`)).size,
      "one read per annotator per image",
    ).toBe(rows.length);
    expect(rows.length - ackedBeforeKill, "stored but unacknowledged reads").toBeGreaterThanOrEqual(0);
    expect(rows.length - ackedBeforeKill, "stored but unacknowledged reads").toBeLessThanOrEqual(cutSubmits);

    // 2. Nothing half-written: one read.submit audit event per read, counters agree with the reads.
    const audits = await db
      .select({ resourceId: auditEvents.resourceId })
      .from(auditEvents)
      .where(and(eq(auditEvents.datasetId, dsId), eq(auditEvents.action, "read.submit")));
    const auditCount = new Map<string, number>();
    for (const a of audits) auditCount.set(a.resourceId ?? "", (auditCount.get(a.resourceId ?? "") ?? 0) + 1);
    for (const r of rows) expect(auditCount.get(r.id), `audit event of read ${r.id}`).toBe(1);
    expect(audits.length).toBe(rows.length);
    const mismatched = await db.execute<{ id: string }>(sql`
      select i.id from images i
      where i.dataset_id = ${dsId}
        and i.reads_needed + (select count(*) from reads r where r.image_id = i.id and r.kind = 'read')
          <> ${READS_PER_IMAGE}`);
    expect(mismatched.rows, "images whose reads_needed disagrees with their reads").toEqual([]);
    // No lease survives for an image its holder has already read (submit deletes it with the insert).
    const staleLeases = await db.execute<{ image_id: string }>(sql`
      select l.image_id from leases l join reads r on r.image_id = l.image_id and r.user_id = l.user_id
      where l.dataset_id = ${dsId}`);
    expect(staleLeases.rows).toEqual([]);

    // 3. What the read page does after a lost answer: send the same read again. A submit deletes its
    //    lease in the statement that stores the read, so a cut submit whose lease is still there
    //    was not committed and is stored now; one whose lease is gone was committed and is refused
    //    as a duplicate. Either way there is then exactly one read of that image by that annotator.
    const orphaned = await leasesOf(db, dsId);
    let resentStored = 0;
    let resentDuplicate = 0;
    for (const k of cut) {
      const leased = orphaned.some((l) => l.userId === k.client.actor.id && l.imageId === k.imageId);
      try {
        await k.client.trpc("reads.submit", {
          imageId: k.imageId,
          gate: k.gate,
          findings: k.gate === "normal" ? {} : { fracture: "positive" },
          timeSpentMs: 1000,
        });
        expect(leased, "a resent read was stored: its first submit had not committed").toBe(true);
        resentStored++;
      } catch (err) {
        expect(err instanceof TrpcError ? err.code : String(err), "a resent read").toBe("CONFLICT");
        expect(leased, "a resent read was a duplicate: its lease was consumed").toBe(false);
        resentDuplicate++;
      }
      const mine = await db
        .select({ id: reads.id })
        .from(reads)
        .where(and(eq(reads.imageId, k.imageId), eq(reads.userId, k.client.actor.id)));
      expect(mine.length, "reads of a resent submit").toBe(1);
    }
    expect(resentDuplicate, "resent reads refused as duplicates = committed unacknowledged").toBe(
      rows.length - ackedBeforeKill,
    );
    const afterResend = rows.length + resentStored;

    // 4. Leases the dead server handed out and nobody used since: the restarted one gives each back
    //    to its holder (or it expired), and every annotator reads through the restarted server.
    const remaining = await leasesOf(db, dsId);
    let resumed = 0;
    let after = 0;
    for (const c of clients) {
      const held = remaining.find((l) => l.userId === c.actor.id && l.expiresAt.getTime() > Date.now());
      const item = await c.trpc<Next>("queue.next", { datasetId: dsId });
      expect(item, "the restarted server serves the queue").not.toBeNull();
      if (held) {
        expect(item?.image.id, "a live lease goes back to its holder").toBe(held.imageId);
        expect(item?.resumed).toBe(true);
        resumed++;
      }
      const read = await c.trpc<{ id: string }>("reads.submit", {
        imageId: item?.image.id,
        gate: "normal",
        findings: {},
        timeSpentMs: 500,
      });
      expect(read.id).toBeTruthy();
      after++;
    }
    const [still] = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(reads)
      .where(eq(reads.datasetId, dsId));
    expect(still?.n).toBe(afterResend + after);
    const [img] = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(images)
      .where(and(eq(images.datasetId, dsId), sql`${images.readsNeeded} < 0`));
    expect(img?.n).toBe(0);

    console.log(
      `web kill: first start ${(firstStartMs / 1000).toFixed(1)} s, ${ackedBeforeKill} reads acknowledged, ` +
        `${inFlightAtKill} submits in flight at the kill (${cutSubmits} cut, ${failedCalls} failed calls), ` +
        `${rows.length} stored (${rows.length - ackedBeforeKill} committed unacknowledged), ` +
        `resent: ${resentStored} stored, ${resentDuplicate} duplicates; ` +
        `${orphaned.length} leases left by the dead server, ${remaining.length} unused after the resends, ` +
        `${resumed} resumed by their holder; restart ${(restartMs / 1000).toFixed(1)} s, ` +
        `${after} reads after it; ${((performance.now() - t0) / 1000).toFixed(1)} s in all`,
    );
  } finally {
    await server.kill();
    await cleanUp(db, datasetId, actors).catch(() => {});
    await closeDb(db);
  }
});
