import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEMO_ACCOUNTS, expect, logIn, test } from "./fixtures";
import { ROLES } from "./roles";

const DEMO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../demo");

test.describe("signed out", () => {
  test("pages redirect to the login page and the API answers 401", async ({ page, request }) => {
    for (const path of ["/", "/images", "/admin/users"]) {
      await page.goto(path);
      await expect(page).toHaveURL(/\/login/);
      await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
    }
    const image = await request.get(`/api/images/${randomUUID()}/thumb`);
    expect(image.status()).toBe(401);
    const trpc = await request.get("/api/trpc/datasets.list");
    expect(trpc.status()).toBe(401);
  });

  test("a wrong password is refused with a clear message", async ({ page }) => {
    await logIn(page, DEMO_ACCOUNTS.lead.email, "not-the-password");
    await expect(page.locator("form").getByRole("alert")).toHaveText("Wrong e-mail or password.");
    await expect(page).toHaveURL(/\/login/);
  });
});

test("signing out ends the session", async ({ page }) => {
  await logIn(page, DEMO_ACCOUNTS.researcher.email, DEMO_ACCOUNTS.researcher.password);
  await expect(page.getByTestId("current-role")).toHaveText("researcher");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/images");
  await expect(page).toHaveURL(/\/login/);
});

for (const role of ROLES) {
  test(`${role} sees the imported images`, async ({ pageAs }) => {
    const page = await pageAs(role);
    await page.goto("/");
    const firstCount = page.getByTestId("dataset-image-count").first();
    await expect(firstCount).toBeVisible();
    expect(Number((await firstCount.textContent())?.replace(/\D/g, ""))).toBeGreaterThan(0);

    const thumbLoaded = page.waitForResponse((r) => /\/api\/images\/[0-9a-f-]+\/thumb$/.test(r.url()));
    await page.getByRole("link", { name: "Images", exact: true }).click();
    await expect(page).toHaveURL(/\/images/);
    const response = await thumbLoaded;
    expect(response.status()).toBe(200);
    expect(response.headers()["content-type"]).toBe("image/png");
    expect(response.headers()["cache-control"]).toContain("immutable");
    await expect(page.getByTestId("image-thumb").first()).toBeVisible();

    await page.getByTestId("image-thumb").first().click();
    await expect(page.getByTestId("image-full")).toBeVisible();
    await expect
      .poll(() => page.getByTestId("image-full").evaluate((img: HTMLImageElement) => img.naturalWidth))
      .toBeGreaterThan(0);
  });
}

test("an annotator gets a 403 page on admin pages, and no admin links", async ({ pageAs }) => {
  const page = await pageAs("annotator");
  await page.goto("/");
  await expect(page.getByRole("link", { name: "Users" })).toHaveCount(0);
  for (const path of ["/admin/users", "/admin/imports"]) {
    const response = await page.goto(path);
    expect(response?.status()).toBe(403);
    await expect(page.getByRole("heading", { name: /403/ })).toBeVisible();
  }
  const unknown = await page.request.get(`/api/images/${randomUUID()}/full`);
  expect(unknown.status()).toBe(404);
  const traversal = await page.request.get("/api/images/..%2F..%2Fetc%2Fpasswd/full");
  expect(traversal.status()).toBe(404);
});

test("an admin creates a user who can sign in, then disables them, which ends their session", async ({
  pageAs,
  browser,
}) => {
  const admin = await pageAs("admin");
  const email = `reader-${Date.now()}@clinic.test`;
  const password = "Fresh-reader-2026";
  await admin.goto("/admin/users");
  await admin.getByLabel("E-mail").fill(email);
  await admin.getByLabel("Password").fill(password);
  await admin.getByRole("button", { name: "Add user" }).click();
  const row = admin.locator(`[data-testid="user-row"][data-email="${email}"]`);
  await expect(row).toBeVisible();

  const context = await browser.newContext();
  const reader = await context.newPage();
  await logIn(reader, email, password);
  await expect(reader.getByTestId("current-role")).toHaveText("annotator");

  await row.getByRole("button", { name: "Disable" }).click();
  await expect(row.getByText("disabled")).toBeVisible();

  // The live session ends on the next request, and signing in again is refused with the reason.
  await reader.goto("/images");
  await expect(reader).toHaveURL(/\/login/);
  await logIn(reader, email, password);
  await expect(reader.locator("form").getByRole("alert")).toHaveText(/account is disabled/);
  await context.close();
});

test("an admin uploads files and sees the import report: duplicates and refusals with reasons", async ({
  pageAs,
}) => {
  const admin = await pageAs("admin");
  await admin.goto("/admin/imports");
  const kneeDir = path.join(DEMO_DIR, "knee-oa-mini-224", "images", "0");
  const knee = readdirSync(kneeDir).find((f) => f.endsWith(".png"));
  if (!knee) throw new Error("no demo knee image");
  const datasetSelect = admin.getByLabel("Dataset");
  const kneeOption = datasetSelect.locator("option", { hasText: "Knee" });
  await datasetSelect.selectOption({ value: (await kneeOption.getAttribute("value")) ?? "" });
  await admin.getByLabel(/^Images/).setInputFiles([
    { name: knee, mimeType: "image/png", buffer: readFileSync(path.join(kneeDir, knee)) },
    { name: "empty.png", mimeType: "image/png", buffer: Buffer.alloc(0) },
    { name: "notes.dcm", mimeType: "application/dicom", buffer: Buffer.from("not a dicom file at all") },
  ]);
  const uploaded = admin.waitForResponse(
    (r) => r.url().endsWith("/api/imports") && r.request().method() === "POST",
  );
  await admin.getByRole("button", { name: "Import" }).click();
  expect((await uploaded).status()).toBe(200);
  const report = admin.getByTestId("import-report");
  await expect(report).toContainText("0 imported, 1 duplicate, 2 refused");
  await expect(report.getByRole("row", { name: /empty\.png/ })).toBeVisible();
  await expect(report.getByRole("row", { name: /notes\.dcm/ })).toBeVisible();
  // The run is listed with its totals.
  await expect(admin.getByTestId("import-row").first()).toContainText("upload by admin@xray.local");
});
