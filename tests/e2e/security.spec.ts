/**
 * Auth hardening on the production server (docs/security.md):
 * - admins read the audit log in the portal: a promotion made in the Users page and a label change
 *   made through the read services are listed, newest first, filterable by action and actor, in
 *   keyset pages; other roles are refused;
 * - a client that sends its own X-Forwarded-For on every failed sign-in is still throttled by its
 *   socket address (the web server pins the header; no trusted proxy is configured here).
 * Runs last (file order): the throttle test locks the loopback address and unlocks it afterwards.
 */
import { randomUUID } from "node:crypto";
import { nextImage } from "@xray/core/queue";
import { changeRead, submitRead } from "@xray/core/reads";
import { createUser, setUserRole } from "@xray/core/users";
import { auditEvents, type Db, loginAttempts } from "@xray/db";
import { and, count, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import { DEMO_ACCOUNTS, expect, logIn, test } from "./fixtures";
import { actorOf, kneeDataset, makeAnnotator, openE2eDb, signIn } from "./platform";

const RUN = randomUUID().slice(0, 8);
let db: Db;

test.beforeAll(() => {
  db = openE2eDb();
});
test.afterAll(async () => {
  await db?.$client.end();
});

test("an admin reads the audit log: a promotion and a label change, filtered and paged; others are refused", async ({
  browser,
}) => {
  test.setTimeout(120_000);
  // A label change, through the same services the read screen uses.
  const ds = await kneeDataset(db);
  const reader = await makeAnnotator(db, `audit-reader-${RUN}`);
  const item = await nextImage(db, { actor: reader, datasetId: ds.id });
  if (!item) throw new Error("the queue is empty");
  const read = await submitRead(db, {
    actor: reader,
    imageId: item.image.id,
    gate: "normal",
    findings: {},
    timeSpentMs: 3000,
  });
  await changeRead(db, { actor: reader, imageId: item.image.id, gate: "abnormal", findings: {} });

  // A promotion, made by the admin in the Users page.
  const promoted = await createUser(db, {
    email: `promoted-${RUN}@xray.local`,
    name: "To promote",
    role: "annotator",
    password: "E2e-promoted-pass-1",
    actor: null,
    skipPolicy: true,
  });
  const admin = await signIn(browser, "admin");
  await admin.goto("/admin/users");
  await admin.getByLabel(`Role of ${promoted.email}`).selectOption("lead");
  await expect(admin.getByLabel(`Role of ${promoted.email}`)).toHaveValue("lead");

  // The audit log, from the navigation.
  await admin.getByRole("link", { name: "Audit log" }).click();
  await expect(admin).toHaveURL(/\/admin\/audit$/);
  const rows = admin.getByTestId("audit-row");
  // Newest first: the promotion is the latest event of all.
  await expect(rows.first()).toHaveAttribute("data-action", "user.role");
  await expect(rows.first()).toContainText(DEMO_ACCOUNTS.admin.email);
  await expect(rows.first()).toContainText(promoted.id);
  await expect(rows.first()).toContainText('{"role":"lead"}');
  const times = await rows.locator("td:first-child").allTextContents();
  expect([...times].sort().reverse()).toEqual(times);

  // Filter by action.
  await admin.getByLabel("Action", { exact: true }).fill("read.change");
  await admin.getByRole("button", { name: "Apply" }).click();
  await expect(admin).toHaveURL(/action=read\.change/);
  const change = admin.getByTestId("audit-row").filter({ hasText: read.id });
  await expect(change).toHaveCount(1);
  await expect(change).toHaveAttribute("data-action", "read.change");
  await expect(change).toContainText(`audit-reader-${RUN}-`);
  await expect(change).toContainText('"gate":"abnormal"');
  for (const a of await admin.getByTestId("audit-row").evaluateAll((els) => els.map((e) => e.dataset.action)))
    expect(a).toBe("read.change");

  // Filter by actor: only the admin's events.
  await admin.getByLabel("Action", { exact: true }).fill("");
  await admin.getByLabel("Actor (e-mail)").fill(DEMO_ACCOUNTS.admin.email);
  await admin.getByRole("button", { name: "Apply" }).click();
  await expect(admin).toHaveURL(/actor=admin%40xray\.local/);
  await expect(admin.getByTestId("audit-row").first()).toHaveAttribute("data-action", "user.role");
  const actors = await admin.getByTestId("audit-row").locator("td:nth-child(2)").allTextContents();
  expect(actors.length).toBeGreaterThan(0);
  for (const a of actors) expect(a).toBe(DEMO_ACCOUNTS.admin.email);
  const none = `nobody-${RUN}@xray.local`;
  await admin.goto(`/admin/audit?actor=${encodeURIComponent(none)}`);
  await expect(admin.getByText("No audit events match these filters.")).toBeVisible();

  // Keyset pages of 50: the next page starts below the last id of this one. A short log (this spec
  // alone on a fresh server) is lengthened with real role changes of the promoted user.
  const adminActor = await actorOf(db, DEMO_ACCOUNTS.admin.email);
  const [before0] = await db.select({ n: count() }).from(auditEvents);
  for (let i = before0?.n ?? 0; i < 60; i++)
    await setUserRole(db, { userId: promoted.id, role: i % 2 ? "lead" : "annotator", actor: adminActor });
  const [total] = await db.select({ n: count() }).from(auditEvents);
  expect(total?.n).toBeGreaterThan(50);
  await admin.goto("/admin/audit");
  const older = admin.getByRole("link", { name: "Older →" });
  const ids = async () =>
    (await admin.getByTestId("audit-row").evaluateAll((els) => els.map((e) => Number(e.dataset.id)))).filter(
      (n) => n > 0,
    );
  const firstPage = await ids();
  expect(firstPage).toHaveLength(50);
  expect([...firstPage].sort((a, b) => b - a)).toEqual(firstPage);
  const href = await older.getAttribute("href");
  const before = Number(href?.match(/before=(\d+)/)?.[1]);
  expect(before).toBe(firstPage.at(-1));
  await older.click();
  await expect(admin).toHaveURL(/before=\d+/);
  await expect(admin.getByRole("link", { name: "← Newest" })).toBeVisible();
  const secondPage = await ids();
  const expected = await db
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(lt(auditEvents.id, before))
    .orderBy(desc(auditEvents.id))
    .limit(50);
  expect(secondPage).toEqual(expected.map((e) => e.id));
  expect(secondPage.length).toBeGreaterThan(0);

  // Other roles: a 403 page, and the API refuses them.
  for (const role of ["annotator", "lead", "researcher"] as const) {
    const page = await signIn(browser, role);
    await expect(page.getByRole("link", { name: "Audit log" })).toHaveCount(0);
    const res = await page.goto("/admin/audit");
    expect(res?.status(), role).toBe(403);
    await expect(page.getByRole("heading", { name: /403/ })).toBeVisible();
    await expect(page.getByTestId("audit-row")).toHaveCount(0);
    const input = encodeURIComponent(JSON.stringify({ json: {} }));
    const api = await page.request.get(`/api/trpc/audit.list?input=${input}`);
    expect(api.status(), role).toBe(403);
    await page.context().close();
  }
});

test("a spoofed X-Forwarded-For on every failed sign-in does not escape the per-address limit", async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const started = new Date(Date.now() - 1000);
  const context = await browser.newContext();
  const page = await context.newPage();
  const emails: string[] = [];
  try {
    let throttled = false;
    // 20 failures from one address lock it; failures of earlier specs from the loopback count too.
    for (let i = 0; i < 20 && !throttled; i++) {
      const email = `spray-${RUN}-${i}@xray.local`;
      emails.push(email);
      await page.setExtraHTTPHeaders({
        "x-forwarded-for": `203.0.113.${i + 1}`,
        "x-real-ip": `198.51.100.${i}`,
      });
      await logIn(page, email, `wrong-password-${i}`);
      const alert = page.locator("form").getByRole("alert");
      await expect(alert).toHaveText(/Wrong e-mail or password\.|Too many failed sign-ins/);
      throttled = /Too many/.test((await alert.textContent()) ?? "");
    }
    // A real account with its right password, from yet another claimed address: refused.
    if (!throttled) {
      await page.setExtraHTTPHeaders({ "x-forwarded-for": "192.0.2.250" });
      await logIn(page, DEMO_ACCOUNTS.lead.email, DEMO_ACCOUNTS.lead.password);
      await expect(page.locator("form").getByRole("alert")).toHaveText(/Too many failed sign-ins/);
    }
    // Every attempt was counted against the socket's address, never the claimed ones.
    const attempts = await db
      .select({ address: loginAttempts.address })
      .from(loginAttempts)
      .where(inArray(loginAttempts.email, emails));
    expect(attempts.length).toBeGreaterThan(0);
    for (const a of attempts) expect(a.address).toBe("127.0.0.1");
    const refusals = await db
      .select({ details: auditEvents.details })
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.action, "auth.login_failed"),
          gte(auditEvents.at, started),
          sql`${auditEvents.details}->>'reason' = 'rate-limited'`,
        ),
      );
    expect(refusals.map((r) => [r.details.scope, r.details.address])).toContainEqual([
      "address",
      "127.0.0.1",
    ]);
  } finally {
    // Unlock the loopback for whatever runs next on this server.
    await db
      .delete(loginAttempts)
      .where(and(eq(loginAttempts.address, "127.0.0.1"), eq(loginAttempts.succeeded, 0)));
    await context.close();
  }
  // Unlocked: the lead signs in again.
  const again = await (await browser.newContext()).newPage();
  await logIn(again, DEMO_ACCOUNTS.lead.email, DEMO_ACCOUNTS.lead.password);
  await expect(again.getByTestId("current-role")).toHaveText("lead");
});
