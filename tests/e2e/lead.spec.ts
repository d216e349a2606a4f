import { randomUUID } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "@playwright/test";
import { updateDatasetSettings } from "@xray/core/dataset-settings";
import { importXrays } from "@xray/core/import/import";
import { nextImage } from "@xray/core/queue";
import { seedDataset } from "@xray/core/queue.fixtures";
import { submitRead } from "@xray/core/reads";
import { reviewQueue } from "@xray/core/review";
import { type Db, datasets, goldLabels, images, modelVersions, predictions } from "@xray/db";
import { createLocalStorage } from "@xray/storage";
import { and, eq, inArray, isNull } from "drizzle-orm";
import { DEMO_ACCOUNTS, expect, test } from "./fixtures";
import { actorOf, e2eDataDir, kneeDataset, makeAnnotator, openE2eDb, shot, signIn } from "./platform";

const KNEE_PNG = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../demo/knee-oa-mini-224/images/3/9057265L.png",
);

/** Fraction of the viewer's canvas that is grey (image pixels; the background and the overlay are not). */
async function greyCoverage(page: Page): Promise<number> {
  return await page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>("[data-testid=viewer-stage] canvas");
    const ctx = canvas?.getContext("2d");
    if (!canvas || !ctx) throw new Error("no viewer canvas");
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let grey = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] === data[i + 1] && data[i] === data[i + 2]) grey++;
    return grey / (data.length / 4);
  });
}

let db: Db;
let datasetId: string;

// Two annotators read the same images with opposite gate calls: reader-vs-reader disagreements,
// made through the same services the read screen uses.
test.beforeAll(async () => {
  db = openE2eDb();
  const ds = await kneeDataset(db);
  datasetId = ds.id;
  const lead = await actorOf(db, "lead@xray.local");
  // Three reads per image: images the annotator journey already read once still need reads, so
  // reader-a and reader-b (asking in the same queue order) read the same three images.
  await updateDatasetSettings(db, { datasetId, settings: { readsPerImage: 3 }, actor: lead });
  const a = await makeAnnotator(db, "reader-a");
  const b = await makeAnnotator(db, "reader-b");
  const positive = Object.fromEntries(ds.labelSchema.findings.map((f) => [f.key, "positive" as const]));
  for (let i = 0; i < 3; i++) {
    const item = await nextImage(db, { actor: a, datasetId });
    if (!item) throw new Error("the queue is empty");
    await submitRead(db, {
      actor: a,
      imageId: item.image.id,
      gate: "normal",
      findings: {},
      timeSpentMs: 4000,
    });
  }
  for (let i = 0; i < 3; i++) {
    const item = await nextImage(db, { actor: b, datasetId });
    if (!item) throw new Error("the queue is empty");
    await submitRead(db, {
      actor: b,
      imageId: item.image.id,
      gate: "abnormal",
      findings: positive,
      timeSpentMs: 5000,
    });
  }
  const queue = await reviewQueue(db, { datasetId, kind: "readers" });
  expect(queue.total).toBeGreaterThanOrEqual(2);
});

test.afterAll(async () => {
  await db?.$client.end();
});

test("a lead settles two disagreements; gold labels and agreement figures update", async ({ browser }) => {
  test.setTimeout(120_000);
  const page = await signIn(browser, "lead");
  await page.goto(`/review/agreement?dataset=${datasetId}`);
  const vsGold = page.getByTestId("vsgold-table");
  await expect(vsGold).toBeVisible();
  const vsGoldBefore = await vsGold.locator("tbody tr").count();

  await page.goto(`/review?dataset=${datasetId}`);
  const total = page.getByTestId("review-total");
  await expect(total).toContainText("to settle");
  const before = Number((await total.textContent())?.match(/\d+/)?.[0]);
  expect(before).toBeGreaterThanOrEqual(2);

  const settled: string[] = [];
  for (let i = 0; i < 2; i++) {
    const link = page.getByTestId("review-queue").locator("tbody tr a").first();
    const href = await link.getAttribute("href");
    const imageId = href?.match(/\/review\/([0-9a-f-]{36})/)?.[1];
    if (!imageId) throw new Error(`no image link in the queue (${href})`);
    settled.push(imageId);
    await link.click();
    await expect(page.getByTestId("reads-table")).toBeVisible();
    await expect(page.getByTestId("reads-table").locator("tr.disagree").first()).toBeVisible();
    // The image is in the annotators' viewer (konva canvas, window/level, zoom), drawn for this image.
    const viewer = page.getByTestId("viewer");
    await expect(viewer.locator("canvas").first()).toBeVisible();
    await expect(viewer).toHaveAttribute("data-image-id", imageId);
    if (i === 0) {
      const zoom = page.getByTestId("viewer-zoom");
      const fitted = await zoom.textContent();
      await page
        .getByRole("toolbar", { name: "Viewer tools" })
        .getByRole("button", { name: "Zoom +" })
        .click();
      await expect(zoom).not.toHaveText(fitted ?? "");
      const windowLevel = page.getByTestId("viewer-window");
      const before = await windowLevel.textContent();
      await page.getByRole("toolbar", { name: "Viewer tools" }).getByRole("button", { name: "W +" }).click();
      await expect(windowLevel).not.toHaveText(before ?? "");
      await page.getByRole("toolbar", { name: "Viewer tools" }).getByRole("button", { name: "Fit" }).click();
      await expect(zoom).toHaveText(fitted ?? "");
    }
    if (i === 0) await page.screenshot({ path: shot("review.png"), fullPage: true });
    const form = page.getByRole("form", { name: "Gold label" });
    await form.locator('select[name="gate"]').selectOption("abnormal");
    await form.getByLabel("Reason").fill(`e2e: settled disagreement ${i + 1}`);
    await form.getByRole("button", { name: "Save gold label" }).click();
    await expect(page).toHaveURL(/\/review\?/);
    await expect(total).toHaveText(new RegExp(`^${before - i - 1} image`));
  }

  const gold = await db
    .select({ imageId: goldLabels.imageId, gate: goldLabels.gate, reason: goldLabels.reason })
    .from(goldLabels)
    .where(and(inArray(goldLabels.imageId, settled), isNull(goldLabels.supersededAt)));
  expect(gold).toHaveLength(2);
  expect(gold.every((g) => g.gate === "abnormal" && g.reason.startsWith("e2e:"))).toBe(true);

  // The settled image shows its gold label, and the agreement page now scores readers against it.
  await page.goto(`/review/${settled[0]}?dataset=${datasetId}`);
  await expect(page.getByTestId("gold-current")).toContainText("abnormal");
  await page.goto(`/review/agreement?dataset=${datasetId}`);
  await expect(vsGold.locator("tbody tr")).not.toHaveCount(vsGoldBefore);
  // reader-b called both settled images abnormal like the gold: sensitivity 1 on the gate.
  await expect(
    vsGold.locator("tbody tr", { hasText: "reader-b" }).filter({ hasText: "1.000" }).first(),
  ).toBeVisible();
  await expect(vsGold.locator("tbody tr", { hasText: "reader-a" }).first()).toBeVisible();
});

test("on the review screen a lead switches the model's Grad-CAM heatmap over the image", async ({
  browser,
}) => {
  test.setTimeout(90_000);
  const storage = createLocalStorage(path.join(e2eDataDir(), "storage"));
  const folder = mkdtempSync(path.join(os.tmpdir(), "xray-review-heatmap-"));
  let ownDataset: string | null = null;
  try {
    // Its own dataset: one knee image and an active version with a heatmap for it.
    ownDataset = await seedDataset(db, { name: `review-heatmap-${Date.now()}` });
    const admin = await actorOf(db, DEMO_ACCOUNTS.admin.email);
    copyFileSync(KNEE_PNG, path.join(folder, "knee.png"));
    const report = await importXrays({ db, storage, datasetId: ownDataset, root: folder, actor: admin });
    expect(report.totals.imported).toBe(1);
    const [image] = await db.select().from(images).where(eq(images.datasetId, ownDataset));
    if (!image) throw new Error("the image was not imported");
    const versionId = randomUUID();
    // Any grey PNG is a heatmap to the viewer: the knee image itself stands in for a Grad-CAM map.
    const heat = await storage.putBlob(readFileSync(KNEE_PNG), "png");
    await db.insert(modelVersions).values({
      id: versionId,
      datasetId: ownDataset,
      number: 1,
      artifactKey: `models/${ownDataset}/${versionId}`,
      config: {},
      labelSnapshot: { count: 0, hash: "review-heatmap" },
      isActive: true,
    });
    await db.insert(predictions).values({
      versionId,
      imageId: image.id,
      probs: { abnormal: 0.8 },
      heatmaps: { abnormal: heat.key },
    });

    const page = await signIn(browser, "lead");
    const heatResponse = page.waitForResponse((r) =>
      r.url().includes(`/api/heatmaps/${versionId}/${image.id}/`),
    );
    await page.goto(`/review/${image.id}?dataset=${ownDataset}`);
    const viewer = page.getByTestId("viewer");
    await expect(viewer).toHaveAttribute("data-image-id", image.id);
    await expect(viewer).toHaveAttribute("data-full", "true");
    expect((await heatResponse).status()).toBe(200);
    await expect(page.getByTestId("model-probs")).toContainText("0.800");
    // Off by default: the image alone.
    const plain = await greyCoverage(page);
    expect(plain).toBeGreaterThan(0.1);
    const toggle = page.getByTestId("review-heatmap").getByLabel("Grad-CAM heatmap");
    await toggle.check();
    // The overlay colours the image: most of its pixels stop being grey.
    await expect.poll(() => greyCoverage(page)).toBeLessThan(plain * 0.5);
    await toggle.uncheck();
    await expect.poll(() => greyCoverage(page)).toBeCloseTo(plain, 2);
  } finally {
    if (ownDataset) await db.delete(datasets).where(eq(datasets.id, ownDataset));
    rmSync(folder, { recursive: true, force: true });
  }
});
