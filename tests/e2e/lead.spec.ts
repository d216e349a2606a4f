import { updateDatasetSettings } from "@xray/core/dataset-settings";
import { nextImage } from "@xray/core/queue";
import { submitRead } from "@xray/core/reads";
import { reviewQueue } from "@xray/core/review";
import { type Db, goldLabels } from "@xray/db";
import { and, inArray, isNull } from "drizzle-orm";
import { expect, test } from "./fixtures";
import { actorOf, kneeDataset, makeAnnotator, openE2eDb, shot, signIn } from "./platform";

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
