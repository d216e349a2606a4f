/**
 * The annotator's journey, keyboard only: five images read (normal, abnormal with two findings,
 * skipped, flagged, undone and redone), then the database holds exactly those reads. The same suite
 * measures the image switch time (submit pressed -> next image drawn at full resolution) and checks
 * window/level, invert and zoom by reading the viewer's canvas pixels.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "@playwright/test";
import { updateDatasetSettings } from "@xray/core/dataset-settings";
import { openJobQueue } from "@xray/core/jobs";
import { releaseLease } from "@xray/core/queue";
import { startRound } from "@xray/core/rounds";
import { closeDb, createDb, type Db } from "@xray/db";
import { sql } from "drizzle-orm";
import { expect, test } from "./fixtures";

test.describe.configure({ mode: "serial" });

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCREENSHOTS = path.join(ROOT, "docs/screenshots");

function databaseUrl(): string {
  const dir = process.env.XRAY_E2E_DATA_DIR;
  if (!dir) throw new Error("XRAY_E2E_DATA_DIR is not set (tests/playwright.config.ts sets it)");
  const server: unknown = JSON.parse(readFileSync(path.join(dir, "pg-server.json"), "utf8"));
  if (typeof server !== "object" || server === null || !("url" in server) || typeof server.url !== "string")
    throw new Error("pg-server.json has no url");
  return server.url;
}

/** Runs `text` with $1.. placeholders bound to `params`. */
function query<T extends Record<string, unknown>>(db: Db, text: string, params: unknown[] = []) {
  const parts = text.split(/\$(\d+)/);
  const chunks = parts.map((part, i) => (i % 2 === 0 ? sql.raw(part) : sql`${params[Number(part) - 1]}`));
  return db.execute<T>(sql.join(chunks, sql.raw("")));
}

/** The test server's database (the tests read what the UI stored, and set up assisted mode). */
async function withDb<T>(fn: (c: Db) => Promise<T>): Promise<T> {
  const db = createDb({ url: databaseUrl(), max: 1, applicationName: "e2e-annotator" });
  try {
    return await fn(db);
  } finally {
    await closeDb(db);
  }
}

const viewer = (page: Page) => page.getByTestId("viewer");

/**
 * The drawn image's id once it is drawn at full resolution, differs from `previous`, and the
 * workspace takes input again (its lease confirmed).
 */
async function drawnImage(page: Page, previous: string | null): Promise<string> {
  await expect
    .poll(async () => {
      const v = viewer(page);
      const id = await v.getAttribute("data-image-id");
      const full = await v.getAttribute("data-full");
      const phase = await page.getByTestId("read-workspace").getAttribute("data-phase");
      return id && id !== previous && full === "true" && phase === "reading" ? id : null;
    })
    .not.toBeNull();
  const id = await viewer(page).getAttribute("data-image-id");
  if (!id) throw new Error("no image drawn");
  return id;
}

/**
 * Presses the key that submits; returns the next image's id, the switch time (submit pressed -> next
 * image drawn at full resolution) and the time until the workspace takes input again (lease taken).
 */
async function submitAndTime(
  page: Page,
  key: string,
  previous: string,
): Promise<{ id: string; ms: number; readyMs: number }> {
  await page.keyboard.press(key);
  const id = await drawnImage(page, previous);
  const { ms, readyMs } = await page.evaluate(() => {
    const root = document.querySelector<HTMLElement>("[data-testid=read-workspace]");
    const v = document.querySelector<HTMLElement>("[data-testid=viewer]");
    const submitAt = Number(root?.dataset.submitAt);
    return { ms: Number(v?.dataset.drawnAt) - submitAt, readyMs: Number(root?.dataset.readyAt) - submitAt };
  });
  return { id, ms, readyMs };
}

interface CanvasStats {
  /** Fraction of the canvas showing image pixels (grey); the background is not grey. */
  coverage: number;
  mean: number;
  std: number;
}

async function canvasStats(page: Page): Promise<CanvasStats> {
  return await page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>("[data-testid=viewer-stage] canvas");
    const ctx = canvas?.getContext("2d");
    if (!canvas || !ctx) throw new Error("no viewer canvas");
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < data.length; i += 4) {
      const r = data[i] ?? 0;
      if (r === data[i + 1] && r === data[i + 2]) {
        n++;
        sum += r;
        sq += r * r;
      }
    }
    const mean = n ? sum / n : 0;
    return { coverage: n / (data.length / 4), mean, std: n ? Math.sqrt(sq / n - mean * mean) : 0 };
  });
}

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)] ?? Number.NaN;
}

let kneeId = "";
let annotatorId = "";
const switchTimes: number[] = [];
const readyTimes: number[] = [];

test.beforeAll(async () => {
  await withDb(async (c) => {
    const ds = await query<{ id: string }>(c, "select id from datasets where name like 'Knee%' limit 1");
    const user = await query<{ id: string }>(c, "select id from users where email = 'annotator@xray.local'");
    kneeId = ds.rows[0]?.id ?? "";
    annotatorId = user.rows[0]?.id ?? "";
  });
  expect(kneeId).not.toBe("");
  expect(annotatorId).not.toBe("");
});

test("an annotator reads five images with the keyboard only; the database holds exactly those reads", async ({
  pageAs,
}) => {
  const before = await withDb(
    async (c) => (await query(c, "select 1 from reads where user_id = $1", [annotatorId])).rowCount ?? 0,
  );
  expect(before, "the annotator starts with no reads").toBe(0);
  const page = await pageAs("annotator");
  await page.goto(`/read?dataset=${kneeId}`);
  await expect(page.getByTestId("reading-mode")).toHaveText("Blind reading");

  // 1: normal.
  const first = await drawnImage(page, null);
  if (process.env.XRAY_E2E_SCREENSHOTS) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.keyboard.press("a");
    await page.keyboard.press("3");
    await page.screenshot({ path: path.join(SCREENSHOTS, "read-blind.png") });
    await page.keyboard.press("3");
    await page.keyboard.press("3");
  }
  await page.keyboard.press("n");
  const second = (await submitAndTime(page, "Enter", first)).id;
  // 2: abnormal with two findings (KL 1 and KL 3 positive; the others stay "no").
  await page.keyboard.press("a");
  await page.keyboard.press("2");
  await page.keyboard.press("4");
  await expect(page.getByTestId("finding-kl1")).toHaveAttribute("data-value", "positive");
  await expect(page.getByTestId("finding-kl3")).toHaveAttribute("data-value", "positive");
  const third = (await submitAndTime(page, "Enter", second)).id;
  // 3: skipped with reason 2.
  await page.keyboard.press("s");
  await expect(page.getByRole("dialog", { name: "Skip this image" })).toBeVisible();
  await page.keyboard.press("2");
  const fourth = (await submitAndTime(page, "Enter", third)).id;
  // 4: flagged for a lead, read as normal.
  await page.keyboard.press("f");
  await page.keyboard.press("n");
  const fifth = (await submitAndTime(page, "Enter", fourth)).id;
  // 5: read as normal, undone (the same image comes back), then read again as abnormal with KL 2.
  await page.keyboard.press("n");
  const sixth = (await submitAndTime(page, "Enter", fifth)).id;
  await page.keyboard.press("u");
  expect(await drawnImage(page, sixth)).toBe(fifth);
  await page.keyboard.press("a");
  await page.keyboard.press("3");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("read-workspace")).toHaveAttribute("data-count", "5");
  await drawnImage(page, fifth);

  const rows = await withDb(
    async (c) =>
      (
        await query<{
          image_id: string;
          kind: string;
          gate: string | null;
          findings: Record<string, string>;
          skip_reason: string | null;
          flagged: boolean;
          time_spent_ms: number;
        }>(
          c,
          "select image_id, kind, gate, findings, skip_reason, flagged, time_spent_ms from reads where user_id = $1",
          [annotatorId],
        )
      ).rows,
  );
  const byImage = new Map(rows.map((r) => [r.image_id, r]));
  expect(rows).toHaveLength(5);
  const negatives = { kl0: "negative", kl1: "negative", kl2: "negative", kl3: "negative", kl4: "negative" };
  expect(byImage.get(first)).toMatchObject({ kind: "read", gate: "normal", findings: {}, flagged: false });
  expect(byImage.get(second)).toMatchObject({
    kind: "read",
    gate: "abnormal",
    findings: { ...negatives, kl1: "positive", kl3: "positive" },
    flagged: false,
  });
  expect(byImage.get(third)).toMatchObject({
    kind: "skip",
    gate: null,
    skip_reason: "Wrong body part or view",
    flagged: false,
  });
  expect(byImage.get(fourth)).toMatchObject({ kind: "read", gate: "normal", flagged: true });
  expect(byImage.get(fifth)).toMatchObject({
    kind: "read",
    gate: "abnormal",
    findings: { ...negatives, kl2: "positive" },
    flagged: false,
  });
  for (const r of rows) expect(r.time_spent_ms, "time spent is recorded").toBeGreaterThan(0);
  // The undone image's first read is gone, and the image after it is still leased to the annotator.
  const lease = await withDb(
    async (c) =>
      (
        await query(c, "select 1 from leases where image_id = $1 and user_id = $2 and expires_at > now()", [
          sixth,
          annotatorId,
        ])
      ).rowCount,
  );
  expect(lease).toBe(1);

  // Blind reading: no heatmap before this annotator's read of the image; unknown ones are 404.
  const version = "00000000-0000-4000-8000-000000000000";
  expect((await page.request.get(`/api/heatmaps/${version}/${sixth}/abnormal`)).status()).toBe(403);
  expect((await page.request.get(`/api/heatmaps/${version}/${first}/abnormal`)).status()).toBe(404);

  // My reads lists them, filtered.
  await page.goto("/my-reads");
  await expect(page.getByTestId("my-reads-total")).toHaveText("5 reads");
  await page.getByTestId("filter-gate").selectOption("abnormal");
  await expect(page.getByTestId("my-reads-total")).toHaveText("2 reads");
});

test("switching images: submit to next image drawn, p95 on the demo data", async ({ pageAs }) => {
  const page = await pageAs("annotator");
  await page.goto(`/read?dataset=${kneeId}`);
  let current = await drawnImage(page, null);
  for (let i = 0; i < 20; i++) {
    // An annotator looks at an image for far longer than this; the prefetch needs a moment.
    await page.waitForTimeout(300);
    await page.keyboard.press("n");
    const { id, ms, readyMs } = await submitAndTime(page, "Enter", current);
    switchTimes.push(ms);
    readyTimes.push(readyMs);
    current = id;
  }
  // A fast reader does not wait for the lease: N and Enter pressed as soon as the next image shows
  // are kept and submitted once its lease is confirmed.
  const countBefore = Number(await page.getByTestId("read-workspace").getAttribute("data-count"));
  await page.waitForTimeout(300);
  await page.keyboard.press("n");
  await page.keyboard.press("Enter");
  await expect(viewer(page)).not.toHaveAttribute("data-image-id", current);
  const guessed = await viewer(page).getAttribute("data-image-id");
  await page.keyboard.press("n");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("read-workspace")).toHaveAttribute("data-count", String(countBefore + 2));
  const fastRead = await withDb(
    async (c) =>
      (
        await query<{ gate: string }>(c, "select gate from reads where user_id = $1 and image_id = $2", [
          annotatorId,
          guessed,
        ])
      ).rows,
  );
  expect(fastRead).toEqual([{ gate: "normal" }]);

  const sorted = [...switchTimes].sort((a, b) => a - b);
  console.log(
    `[annotator] image switch (submit -> next image drawn at full resolution), n=${sorted.length}: ` +
      `median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} ms, p95 ${p95(sorted).toFixed(1)} ms, ` +
      `max ${sorted[sorted.length - 1]?.toFixed(1)} ms (goal p95 < 150 ms)`,
  );
  const ready = [...readyTimes].sort((a, b) => a - b);
  console.log(
    `[annotator] submit -> lease confirmed and input taken again, n=${ready.length}: ` +
      `median ${ready[Math.floor(ready.length / 2)]?.toFixed(1)} ms, p95 ${p95(ready).toFixed(1)} ms`,
  );
  for (const ms of switchTimes) expect(ms).toBeGreaterThan(0);
  for (const ms of readyTimes) expect(ms).toBeGreaterThan(0);
  expect(p95(switchTimes)).toBeLessThan(1000);
});

test("window/level, invert and zoom change the drawn pixels", async ({ pageAs }) => {
  const page = await pageAs("annotator");
  await page.goto(`/read?dataset=${kneeId}`);
  await drawnImage(page, null);
  const base = await canvasStats(page);
  expect(base.coverage).toBeGreaterThan(0.2);

  await page.keyboard.press("i");
  const inverted = await canvasStats(page);
  expect(Math.abs(inverted.mean - (255 - base.mean))).toBeLessThan(2);
  await page.keyboard.press("i");

  for (let i = 0; i < 4; i++) await page.keyboard.press(",");
  const brighter = await canvasStats(page);
  expect(brighter.mean, "a lower level shows the image brighter").toBeGreaterThan(base.mean + 10);
  await expect(page.getByTestId("viewer-window")).toHaveText("W 256 / L 88");

  await page.keyboard.press("r");
  for (let i = 0; i < 8; i++) await page.keyboard.press("[");
  const narrow = await canvasStats(page);
  expect(narrow.std, "a narrower window raises the contrast").toBeGreaterThan(base.std * 1.2);

  await page.keyboard.press("r");
  const reset = await canvasStats(page);
  expect(Math.abs(reset.mean - base.mean)).toBeLessThan(1);
  const fitScale = Number(await viewer(page).getAttribute("data-scale"));
  await page.keyboard.press("+");
  await page.keyboard.press("+");
  const zoomed = await canvasStats(page);
  expect(Number(await viewer(page).getAttribute("data-scale"))).toBeCloseTo(fitScale * 1.5625, 3);
  expect(zoomed.coverage, "zooming in fills more of the viewer").toBeGreaterThan(base.coverage * 1.1);
  await page.keyboard.press("z");
  expect(Number(await viewer(page).getAttribute("data-scale"))).toBeCloseTo(1, 3);
  await page.keyboard.press("0");
  const fitted = await canvasStats(page);
  expect(Math.abs(fitted.coverage - base.coverage)).toBeLessThan(0.01);

  // The help overlay lists the shortcuts.
  await page.keyboard.press("?");
  await expect(page.getByRole("dialog", { name: "Keyboard shortcuts" })).toContainText("Window narrower");
  await page.keyboard.press("Escape");
  await expect(page.getByRole("dialog", { name: "Keyboard shortcuts" })).toHaveCount(0);
});

/**
 * Assisted mode needs a model version with heatmaps: a tiny real round run by a real trainer worker
 * (the e2e server starts none). Opt-in (XRAY_E2E_ASSISTED=1, about a minute); it writes the assisted
 * screenshot under docs/screenshots/.
 */
test("assisted mode shows the model's probabilities and a Grad-CAM overlay", async ({ pageAs }) => {
  test.skip(
    !process.env.XRAY_E2E_ASSISTED,
    "set XRAY_E2E_ASSISTED=1 to train a tiny round for assisted mode",
  );
  test.setTimeout(480_000);
  const url = databaseUrl();
  const db = createDb({ url, max: 2, applicationName: "e2e-annotator" });
  const jobs = await openJobQueue(url);
  const worker = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "trainer/src/worker/main.ts")], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: url,
      XRAY_DATA_DIR: process.env.XRAY_E2E_DATA_DIR,
      XRAY_WORKER_ID: "e2e",
    },
    stdio: "inherit",
  });
  try {
    const researcher = await withDb(
      async (c) =>
        (await query<{ id: string }>(c, "select id from users where email = 'researcher@xray.local'")).rows[0]
          ?.id,
    );
    const lead = await withDb(
      async (c) =>
        (await query<{ id: string }>(c, "select id from users where email = 'lead@xray.local'")).rows[0]?.id,
    );
    if (!researcher || !lead) throw new Error("demo users missing");
    const round = await startRound(db, {
      actor: { id: researcher, role: "researcher" },
      datasetId: kneeId,
      jobs,
      config: {
        inputSize: 32,
        encoder: { width: 8, blocks: [1, 1] },
        fixmatch: { epochs: 2, batchSize: 16, mu: 1 },
        scoring: { strategy: "entropy", heatmapsTop: 10 },
        promote: "always",
      },
    });
    await expect
      .poll(
        async () =>
          withDb(async (c) => {
            const r = await query<{ status: string; heat: string }>(
              c,
              `select r.status, (select count(*) from predictions p join model_versions v on v.id = p.version_id
                 where v.dataset_id = r.dataset_id and v.is_active and p.heatmaps <> '{}'::jsonb)::text as heat
               from training_rounds r where r.id = $1`,
              [round.id],
            );
            const row = r.rows[0];
            return row?.status === "failed" ? "failed" : Number(row?.heat ?? 0) > 0 ? "ready" : row?.status;
          }),
        { timeout: 420_000, intervals: [2000] },
      )
      .toBe("ready");
    await updateDatasetSettings(db, {
      datasetId: kneeId,
      settings: { readingMode: "assisted" },
      actor: { id: lead, role: "lead" },
    });
    // Give back the annotator's held images, then lease one that has a heatmap.
    const held = await withDb(
      async (c) =>
        (
          await query<{ image_id: string }>(c, "select image_id from leases where user_id = $1", [
            annotatorId,
          ])
        ).rows,
    );
    for (const h of held)
      await releaseLease(db, { actor: { id: annotatorId, role: "annotator" }, imageId: h.image_id });
    await withDb((c) =>
      query(
        c,
        `update images set priority = priority + 1000 where id in (
           select p.image_id from predictions p join model_versions v on v.id = p.version_id
           where v.dataset_id = $1 and v.is_active and p.heatmaps <> '{}'::jsonb
             and not exists (select 1 from reads r where r.image_id = p.image_id and r.user_id = $2))`,
        [kneeId, annotatorId],
      ),
    );
    const page = await pageAs("annotator");
    const heat = page.waitForResponse((r) => r.url().includes("/api/heatmaps/"));
    await page.goto(`/read?dataset=${kneeId}`);
    await expect(page.getByTestId("reading-mode")).toHaveText("Assisted reading");
    await drawnImage(page, null);
    await expect(page.getByTestId("assist").getByRole("listitem").first()).toBeVisible();
    expect((await heat).status()).toBe(200);
    // The overlay colours the image: pixels stop being grey where the heatmap is drawn.
    await expect.poll(async () => (await canvasStats(page)).coverage).toBeLessThan(0.5);
    if (process.env.XRAY_E2E_SCREENSHOTS) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, "read-assisted.png") });
    }
  } finally {
    worker.kill("SIGTERM");
    await jobs.stop();
    await closeDb(db);
  }
});
