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

/** The script-src sources of a policy. */
function scriptSources(csp: string): string[] {
  const directive = csp.split(";").find((d) => d.trim().startsWith("script-src ")) ?? "";
  return directive.trim().split(/\s+/).slice(1);
}

function nonceOf(csp: string): string | undefined {
  return scriptSources(csp)
    .find((s) => s.startsWith("'nonce-"))
    ?.slice(7, -1);
}

/**
 * Collects CSP violations of a page: the browser's console complaints and the document's
 * `securitypolicyviolation` events (read with cspViolations() before leaving each page).
 */
async function watchCsp(page: Page): Promise<string[]> {
  const seen: string[] = [];
  page.on("console", (msg) => {
    if (/Content Security Policy|Refused to (execute|load|apply|connect|create)/i.test(msg.text()))
      seen.push(`console: ${msg.text()}`);
  });
  await page.addInitScript(() => {
    const w = window as unknown as { __csp?: string[] };
    w.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      w.__csp?.push(
        `${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`,
      );
    });
  });
  return seen;
}

async function pageViolations(page: Page): Promise<string[]> {
  return await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? ["no CSP watcher"]);
}
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
    expect(scriptSources(csp), path).not.toContain("'unsafe-inline'");
    expect(h["x-content-type-options"], path).toBe("nosniff");
    expect(h["x-frame-options"], path).toBe("DENY");
    expect(h["referrer-policy"], path).toBe("same-origin");
    expect(h["permissions-policy"], path).toContain("camera=()");
    expect(h["x-powered-by"], path).toBeUndefined();
  }
  // Pages: a fresh nonce per response, and every script Next rendered carries it.
  const nonces = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const res = await request.get("/login");
    const nonce = nonceOf(res.headers()["content-security-policy"] ?? "");
    expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    nonces.add(nonce ?? "");
    const html = await res.text();
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
  }
  expect(nonces.size).toBe(3);
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

test("no script is blocked: login, reading (konva), research, audit log and a 404 load with zero CSP violations", async ({
  browser,
}) => {
  const visit = async (page: Page, path: string, ready: (p: Page) => Promise<void>) => {
    const res = await page.goto(path);
    expect(res?.status(), path).toBeLessThan(500);
    await ready(page);
    await page.waitForLoadState("networkidle");
    // Next's client bootstrap ran (it sets window.next): its scripts were not blocked.
    expect(await page.evaluate(() => "next" in window), path).toBe(true);
    return await pageViolations(page);
  };
  const signedOut = await (await browser.newContext()).newPage();
  const consoleOut = await watchCsp(signedOut);
  const loginViolations = await visit(signedOut, "/login", async (p) => {
    await expect(p.getByRole("button", { name: "Sign in" })).toBeEnabled();
  });

  const journeys: [UserRole, string, (p: Page) => Promise<void>][] = [
    ["annotator", "/read", async (p) => await expect(p.locator("canvas").first()).toBeVisible()],
    [
      "researcher",
      "/research",
      async (p) => await expect(p.getByRole("heading", { level: 1 }).first()).toBeVisible(),
    ],
    ["admin", "/admin/audit", async (p) => await expect(p.getByTestId("audit-table")).toBeVisible()],
    [
      "admin",
      `/no-such-page-${ID}`,
      async (p) => await expect(p.getByRole("heading", { name: /404/ })).toBeVisible(),
    ],
  ];
  const found: Record<string, string[]> = { "/login": loginViolations, "signed-out console": consoleOut };
  for (const [role, path, ready] of journeys) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const consoleMsgs = await watchCsp(page);
    await logIn(page, DEMO_ACCOUNTS[role].email, DEMO_ACCOUNTS[role].password);
    await expect(page.getByTestId("current-role")).toHaveText(role);
    found[`${role} home (before ${path})`] = await pageViolations(page);
    found[path] = await visit(page, path, ready);
    found[`${role} ${path} console`] = consoleMsgs;
    await context.close();
  }
  for (const [where, list] of Object.entries(found)) expect(list, where).toEqual([]);
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
