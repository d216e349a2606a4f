/**
 * Hostile requests against the production server (docs/security.md): security headers on real
 * responses, path traversal and junk ids on the image, heatmap and export routes (a client error,
 * never a 500 and never a file from outside the store), cross-site posts refused, and the login
 * throttle's message.
 */
import { randomUUID } from "node:crypto";
import type { APIRequestContext, Browser, Page } from "@playwright/test";
import type { UserRole } from "@xray/db";
import { DEMO_ACCOUNTS, expect, logIn, test } from "./fixtures";

/** Signs in afresh in its own context (no stored state: this spec also runs with --no-deps). */
async function signedIn(browser: Browser, role: UserRole): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await logIn(page, DEMO_ACCOUNTS[role].email, DEMO_ACCOUNTS[role].password);
  await expect(page.getByTestId("current-role")).toHaveText(role);
  return page;
}

const ID = randomUUID();
const HOSTILE_PATHS = [
  "/api/images/..%2F..%2F..%2Fetc%2Fpasswd/thumb",
  "/api/images/not-a-uuid/thumb",
  `/api/images/${ID}/thumb`,
  `/api/images/${ID}/original`,
  `/api/images/${ID}/..%2F..%2Fpackage.json`,
  `/api/images/${ID}/%00`,
  `/api/images/${ID}/normalized%2F..%2F..%2F..%2Fetc%2Fpasswd`,
  `/api/images/${"9".repeat(5000)}/thumb`,
  `/api/heatmaps/${ID}/${ID}/..%2F..%2Fetc%2Fpasswd`,
  `/api/heatmaps/${ID}/${ID}/abnormal`,
  "/api/heatmaps/x/y/z",
  "/api/export/labels/..%2F..%2Fetc%2Fpasswd",
  `/api/export/labels/${ID}`,
  `/api/export/model/${ID}`,
  `/api/export/model/${ID}/..%2F..%2F..%2Fpackage.json`,
  `/api/export/model/${ID}/%2e%2e`,
  `/api/export/model/${ID}/model.json`,
  "/api/export/model/%2e%2e%2f%2e%2e%2fetc/passwd",
];

/**
 * GETs a hostile path. Next normalises dot segments with a same-origin redirect (308/307): that is
 * allowed when it stays on this origin, and the page it leads to is then what is judged.
 */
async function hostileGet(req: APIRequestContext, path: string) {
  let res = await req.get(path, { maxRedirects: 0 });
  if (res.status() === 307 || res.status() === 308) {
    const location = res.headers().location ?? "";
    expect(
      location.startsWith("/") || location.startsWith("http://127.0.0.1:"),
      `${path} -> ${location}`,
    ).toBe(true);
    res = await req.get(path);
  }
  return { status: res.status(), url: res.url(), body: await res.text() };
}

function leaksFile(body: string): boolean {
  return (
    body.includes("root:x:0:0") || body.includes('"name": "xray-platform"') || body.includes("AUTH_SECRET")
  );
}

test("the production server sends the security headers on pages and API answers", async ({
  page,
  request,
}) => {
  const violations: string[] = [];
  page.on("console", (msg) => {
    if (/Content Security Policy|Refused to (execute|load|apply)/i.test(msg.text()))
      violations.push(msg.text());
  });
  for (const path of ["/login", "/api/trpc/session.get", `/api/images/${ID}/thumb`]) {
    const res = await request.get(path, { maxRedirects: 0 });
    const h = res.headers();
    const csp = h["content-security-policy"] ?? "";
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(csp, path).toContain("default-src 'self'");
    expect(csp, path).toContain("object-src 'none'");
    expect(csp, path).not.toContain("unsafe-eval");
    expect(h["x-content-type-options"], path).toBe("nosniff");
    expect(h["x-frame-options"], path).toBe("DENY");
    expect(h["referrer-policy"], path).toBe("same-origin");
    expect(h["permissions-policy"], path).toContain("camera=()");
    expect(h["x-powered-by"], path).toBeUndefined();
  }
  // The portal still works under the policy: signing in (a server action) and the pages that load
  // images and the canvas viewer raise no CSP complaint.
  await logIn(page, DEMO_ACCOUNTS.annotator.email, DEMO_ACCOUNTS.annotator.password);
  await expect(page.getByTestId("current-role")).toHaveText("annotator");
  for (const path of ["/", "/images", "/read", "/my-reads"]) {
    const res = await page.goto(path);
    expect(res?.status(), path).toBeLessThan(500);
    await page.waitForLoadState("networkidle");
  }
  expect(violations).toEqual([]);
});

for (const role of ["annotator", "admin", "lead"] as const satisfies readonly UserRole[]) {
  test(`${role}: traversal and junk ids on the image, heatmap and export routes are client errors`, async ({
    browser,
  }) => {
    const page = await signedIn(browser, role);
    for (const path of HOSTILE_PATHS) {
      const res = await hostileGet(page.request, path);
      expect(res.status, `${path} as ${role}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${path} as ${role}`).toBeLessThan(500);
      expect(leaksFile(res.body), `${path} as ${role}`).toBe(false);
    }
  });
}

test("signed out: the hostile paths answer 401/404 (or the login page) without touching files", async ({
  request,
}) => {
  for (const path of HOSTILE_PATHS) {
    const res = await hostileGet(request, path);
    // A path that normalises out of /api/ lands on a page: the proxy sends it to the login page.
    if (res.status === 200) expect(res.url, path).toContain("/login");
    else expect([400, 401, 404], path).toContain(res.status);
    expect(leaksFile(res.body), path).toBe(false);
  }
});

test("cross-site posts to tRPC and the upload route are refused before anything runs", async ({
  browser,
}) => {
  const page = await signedIn(browser, "admin");
  const evil = { origin: "http://evil.example", "sec-fetch-site": "cross-site" };
  const trpc = await page.request.post("/api/trpc/datasets.create", {
    headers: { ...evil, "content-type": "application/json" },
    data: JSON.stringify({ json: { name: `csrf-${ID}` } }),
  });
  expect(trpc.status()).toBe(403);
  const upload = await page.request.post("/api/imports", {
    headers: evil,
    multipart: { datasetId: ID },
  });
  expect(upload.status()).toBe(403);
  // Nothing was created by the refused call.
  const list = await page.request.get("/api/trpc/datasets.list");
  expect(await list.text()).not.toContain(`csrf-${ID}`);
});

test("a guessed account is throttled after 5 failures with a clear message", async ({ page }) => {
  const email = `nobody-${ID}@xray.local`;
  for (let i = 0; i < 5; i++) {
    await logIn(page, email, `wrong-password-${i}`);
    await expect(page.locator("form").getByRole("alert")).toHaveText("Wrong e-mail or password.");
  }
  await logIn(page, email, "wrong-password-5");
  await expect(page.locator("form").getByRole("alert")).toHaveText(/Too many failed sign-ins/);
});
