/**
 * Fault (docs/security.md): stored files deleted behind the database's back — an image's original,
 * normalized and thumbnail files, a Grad-CAM heatmap and a model version's weights.
 *
 * On a second production server (fault-server.ts, so that its log can be read): the image, heatmap
 * and model export routes answer 404 with a plain reason (never a 500), the server logs one clear
 * line per such request and keeps serving, and an annotator whose queue hands them the image sees
 * the viewer's message (not a blank or crashed page) with the read controls still working.
 * Everything here is its own (dataset, image with unique pixels, version), removed afterwards.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { deflateSync } from "node:zlib";
import { expect, test } from "@playwright/test";
import type { Actor } from "@xray/core/actor";
import { importXrays } from "@xray/core/import/import";
import { seedDataset } from "@xray/core/queue.fixtures";
import { closeDb, datasets, images, modelVersions, predictions, users } from "@xray/db";
import { createLocalStorage } from "@xray/storage";
import { eq } from "drizzle-orm";
import { freePort, HttpSession, WebServer } from "./fault-server";
import { DEMO_ACCOUNTS, logIn } from "./fixtures";
import { actorOf, e2eDataDir, makeAnnotator, openE2eDb } from "./platform";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
/** An 8-bit grey PNG of random pixels: bytes (and so storage keys) no other test shares. */
function noisePng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit, greyscale
  const rows = Buffer.concat(
    Array.from({ length: height }, () => Buffer.concat([Buffer.from([0]), randomBytes(width)])),
  );
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

test("deleted image, heatmap and model files: clear 404s, one log line each, a message in the viewer", async ({
  browser,
}) => {
  test.setTimeout(90_000);
  const db = openE2eDb();
  const storage = createLocalStorage(path.join(e2eDataDir(), "storage"));
  const server = new WebServer(await freePort());
  const folder = mkdtempSync(path.join(os.tmpdir(), "xray-fault-files-"));
  let datasetId: string | null = null;
  let annotator: Actor | null = null;
  try {
    // Set-up: a dataset with one imported image, an active version with a heatmap for it.
    datasetId = await seedDataset(db, { name: `fault-artifacts-${Date.now()}`, readsPerImage: 1 });
    const admin = await actorOf(db, DEMO_ACCOUNTS.admin.email);
    writeFileSync(path.join(folder, "noise.png"), noisePng(96, 80));
    const report = await importXrays({ db, storage, datasetId, root: folder, actor: admin });
    expect(report.totals.imported).toBe(1);
    const [image] = await db.select().from(images).where(eq(images.datasetId, datasetId));
    if (!image) throw new Error("the image was not imported");
    const versionId = randomUUID();
    const artifactKey = `models/${datasetId}/${versionId}`;
    await storage.putAt(
      `${artifactKey}/model.json`,
      JSON.stringify({ weightsManifest: [{ paths: ["weights.bin"], weights: [] }] }),
    );
    await storage.putAt(`${artifactKey}/weights.bin`, randomBytes(64));
    const heat = await storage.putBlob(noisePng(32, 32), "png");
    await db.insert(modelVersions).values({
      id: versionId,
      datasetId,
      number: 1,
      artifactKey,
      config: {},
      labelSnapshot: { count: 0, hash: "fault" },
      isActive: true,
    });
    await db.insert(predictions).values({
      versionId,
      imageId: image.id,
      probs: { abnormal: 0.7 },
      heatmaps: { abnormal: heat.key },
    });

    // The fault: the files go, the rows stay.
    for (const key of new Set([image.originalKey, image.normalizedKey, image.thumbnailKey, heat.key]))
      await storage.remove(key);
    await storage.remove(`${artifactKey}/weights.bin`);

    await server.start();
    // A researcher may see images and heatmaps and export models.
    const researcher = await actorOf(db, DEMO_ACCOUNTS.researcher.email);
    const staff = new HttpSession(
      researcher,
      DEMO_ACCOUNTS.researcher.email,
      DEMO_ACCOUNTS.researcher.password,
      server,
    );
    await staff.signIn();
    const expectations: { url: string; body: RegExp; log: string }[] = [
      {
        url: `/api/images/${image.id}/full`,
        body: /^the image file is missing from storage$/,
        log: `[images] stored file missing for image ${image.id}: ${image.normalizedKey}`,
      },
      {
        url: `/api/images/${image.id}/original`,
        body: /^the image file is missing from storage$/,
        log: `[images] stored file missing for image ${image.id}: ${image.originalKey}`,
      },
      {
        url: `/api/heatmaps/${versionId}/${image.id}/abnormal`,
        body: /^the heatmap file is missing from storage$/,
        log: `[heatmaps] stored file missing for version ${versionId} image ${image.id} head abnormal: ${heat.key}`,
      },
      {
        url: `/api/export/model/${versionId}`,
        body: /^the model files are missing from storage$/,
        log: `[export] stored file missing for model version ${versionId}: ${artifactKey}/weights.bin`,
      },
      {
        url: `/api/export/model/${versionId}/weights.bin`,
        body: /^the model file is missing from storage$/,
        log: `[export] stored file missing for model version ${versionId}: ${artifactKey}/weights.bin`,
      },
    ];
    for (const e of expectations) {
      const res = await staff.call(e.url);
      expect(res.status, e.url).toBe(404);
      expect(await res.text(), e.url).toMatch(e.body);
    }
    // One line per failed request, and each says which record and which file.
    const logLines = server.output.split("\n");
    for (const e of expectations) {
      const wanted = expectations.filter((x) => x.log === e.log).length;
      expect(logLines.filter((l) => l.includes(e.log)).length, e.log).toBe(wanted);
    }
    expect(
      logLines.filter((l) => l.includes("⨯") || /^\s+at /.test(l)),
      "errors or stacks in the log",
    ).toEqual([]);

    // The reader: the queue hands them this image; the viewer says why it cannot show it and the
    // read controls stay usable (the page neither crashes nor goes blank).
    annotator = await makeAnnotator(db, "fault-files");
    const [u] = await db.select({ email: users.email }).from(users).where(eq(users.id, annotator.id));
    const context = await browser.newContext({ baseURL: server.base });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await logIn(page, u?.email ?? "", "E2e-annotator-pass-1");
    await expect(page.getByTestId("current-role")).toHaveText("annotator");
    await page.goto(`/read?dataset=${datasetId}`);
    await expect(page.getByTestId("viewer-error")).toHaveText(
      "the image cannot be shown: the image file is missing from storage (HTTP 404)",
    );
    await expect(page.getByTestId("gate-normal")).toBeEnabled();
    expect(pageErrors).toEqual([]);
    await context.close();
    expect(
      server.output
        .split("\n")
        .filter((l) => l.includes(`[images] stored file missing for image ${image.id}`)).length,
      "the viewer's requests are logged too",
    ).toBeGreaterThan(2);
    // Still serving.
    expect((await staff.call("/api/trpc/session.get")).status).toBe(200);
  } catch (err) {
    console.log(`the fault server's output:\n${server.output.slice(-6000)}`);
    throw err;
  } finally {
    await server.kill();
    if (datasetId) {
      await db.delete(datasets).where(eq(datasets.id, datasetId));
      await storage.remove(`models/${datasetId}`);
    }
    if (annotator) await db.delete(users).where(eq(users.id, annotator.id));
    await closeDb(db);
    rmSync(folder, { recursive: true, force: true });
  }
});
