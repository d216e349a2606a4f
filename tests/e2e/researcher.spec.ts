import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Actor } from "@xray/core/actor";
import { peekNext } from "@xray/core/queue";
import { type Db, trainingRounds } from "@xray/db";
import { eq } from "drizzle-orm";
import { expect, test } from "./fixtures";
import { actorOf, e2eDatabaseUrl, e2eDataDir, kneeDataset, openE2eDb, shot, signIn } from "./platform";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let db: Db;
let datasetId: string;
let annotator: Actor;
let worker: ChildProcess | null = null;

/** The annotator's next five images, in queue order (no leases taken). */
async function queueTop(): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const id = await peekNext(db, { actor: annotator, datasetId, excludeImageIds: ids });
    if (!id) break;
    ids.push(id);
  }
  return ids;
}

// The e2e server runs without workers (XRAY_WORKERS=0); this journey starts the one trainer worker
// that `pnpm start` would run beside the web server, on the same database and storage.
test.beforeAll(async () => {
  db = openE2eDb();
  datasetId = (await kneeDataset(db)).id;
  annotator = await actorOf(db, "annotator@xray.local");
  worker = spawn(process.execPath, ["--import", "tsx", path.join(root, "trainer/src/worker/main.ts")], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: e2eDatabaseUrl(),
      XRAY_DATA_DIR: e2eDataDir(),
      XRAY_WORKER_ID: "e2e-researcher",
    },
    stdio: "inherit",
  });
});

test.afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((r) => worker?.once("exit", r));
    worker.kill("SIGTERM");
    await exited;
  }
  await db?.$client.end();
});

test("a researcher runs a small round, reads its metrics, promotes it, and the queue follows", async ({
  browser,
}) => {
  test.setTimeout(420_000);
  const page = await signIn(browser, "researcher");
  await page.goto(`/research?dataset=${datasetId}`);
  const form = page.getByRole("form", { name: "Start a round" });
  await expect(page.getByTestId("round-estimate")).toContainText("Estimated run time:");
  // A tiny round (the form validates with the shared round-config schema).
  await form.getByLabel("Input size (px)").fill("32");
  await form.getByLabel("Encoder width (channels, ×8)").fill("8");
  await form.getByLabel("Blocks per stage").fill("1,1");
  await form.getByLabel("Epochs").fill("2");
  await form.getByLabel("Batch size").fill("16");
  await form.getByLabel("Unlabelled ratio μ").fill("1");
  await form.getByLabel("Strategy").selectOption("entropy");
  await form.getByLabel("Heatmaps for the top").fill("5");
  await form.getByLabel("Promote").selectOption("never");
  // Self-supervised pretraining with SimSiam for one epoch (each method shows its hint).
  await form.locator('select[name="pretrain"]').selectOption("ssl");
  await expect(form.getByTestId("ssl-method-hints")).toContainText("SimCLR");
  await form.getByLabel("SSL method").selectOption("simsiam");
  await expect(form.getByTestId("ssl-method-hints").locator('li[aria-current="true"]')).toContainText(
    "SimSiam",
  );
  await form.getByLabel("SSL epochs").fill("1");
  // An invalid value is refused before it reaches the server.
  await form.getByLabel("Input size (px)").fill("500");
  await expect(form.getByRole("alert")).toContainText("inputSize");
  await expect(form.getByRole("button", { name: "Start round" })).toBeDisabled();
  await form.getByLabel("Input size (px)").fill("32");
  await expect(page.getByTestId("round-estimate")).toContainText(/\d+ (s|min)/);

  const before = await queueTop();
  await form.getByRole("button", { name: "Start round" }).click();
  await expect(page).toHaveURL(/\/research\/rounds\/[0-9a-f-]{36}/);
  // The chosen method reached the API: the stored round config asks for SimSiam.
  const roundId = page.url().match(/\/research\/rounds\/([0-9a-f-]{36})/)?.[1] ?? "";
  const [stored] = await db
    .select({ config: trainingRounds.config })
    .from(trainingRounds)
    .where(eq(trainingRounds.id, roundId));
  expect(stored?.config.pretrain).toMatchObject({ mode: "ssl", method: "simsiam", epochs: 1 });
  const status = page.getByTestId("round-status");
  await expect(status).toHaveText("running", { timeout: 120_000 });
  // The screenshot of a running round shows it training (epoch and losses), unless it ends first.
  const epoch = page.getByTestId("round-epoch");
  await expect
    .poll(async () => (await epoch.textContent()) !== "—" || (await status.textContent()) !== "running", {
      timeout: 180_000,
      intervals: [500],
    })
    .toBe(true);
  if ((await status.textContent()) === "running")
    await page.screenshot({ path: shot("round-running.png"), fullPage: true });
  await expect(status).toHaveText("succeeded", { timeout: 300_000 });

  await page.getByTestId("round-version-link").click();
  await expect(page).toHaveURL(/\/research\/versions\/[0-9a-f-]{36}/);
  const metrics = page.getByTestId("metrics-table");
  await expect(metrics.locator("tbody tr").first()).toBeVisible();
  // At least one head has both classes in the held-out split: an AUROC with its confidence interval.
  await expect(
    metrics
      .locator("tbody tr")
      .filter({ hasText: /[01]\.\d{3} \[[01]\.\d{3}, [01]\.\d{3}\]/ })
      .first(),
  ).toBeVisible();
  await expect(page.getByTestId("roc-chart").locator("svg.recharts-surface").first()).toBeVisible();
  await expect(page.getByTestId("reliability-chart").locator("svg.recharts-surface").first()).toBeVisible();
  await expect(page.getByTestId("loss-curve").locator("svg.recharts-surface").first()).toBeVisible();
  // Every chart has a table view of the same numbers.
  await page.getByTestId("roc-chart").getByRole("button", { name: "Show table" }).click();
  await expect(page.getByTestId("roc-chart").locator("table").first()).toBeVisible();
  await page.getByTestId("roc-chart").getByRole("button", { name: "Show chart" }).click();
  await page.screenshot({ path: shot("metrics.png"), fullPage: true });

  await page.getByRole("button", { name: /^Promote v\d+$/ }).click();
  await expect(page.getByTestId("promoted")).toContainText("is active; queue re-ranked");
  const after = await queueTop();
  expect(after.length).toBeGreaterThan(0);
  expect(after).not.toEqual(before);

  // The learning curve on the console now has a point for this version.
  await page.goto(`/research?dataset=${datasetId}`);
  await expect(page.getByTestId("versions-table")).toContainText("active");
  await expect(page.getByTestId("learning-curve").locator("svg.recharts-surface").first()).toBeVisible();
});
