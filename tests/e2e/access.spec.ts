import { randomUUID } from "node:crypto";
import type { UserRole } from "@xray/db";
import { expect, test } from "./fixtures";
import { signIn } from "./platform";
import { ROLES } from "./roles";

/** Every page of the review and research consoles and the exports, with the roles allowed on it. */
const ID = randomUUID();
const PAGES: { path: string; allow: readonly UserRole[] }[] = [
  { path: "/review", allow: ["lead"] },
  { path: `/review/${ID}`, allow: ["lead"] },
  { path: "/review/agreement", allow: ["lead", "researcher"] },
  { path: "/research", allow: ["lead", "researcher"] },
  { path: `/research/rounds/${ID}`, allow: ["lead", "researcher"] },
  { path: `/research/versions/${ID}`, allow: ["lead", "researcher"] },
  { path: `/research/compare?a=${ID}&b=${randomUUID()}`, allow: ["lead", "researcher"] },
  { path: "/admin/users", allow: ["admin"] },
  { path: "/admin/datasets", allow: ["lead", "admin"] },
  { path: "/admin/imports", allow: ["admin"] },
  { path: "/admin/audit", allow: ["admin"] },
];
const ROUTES: { path: string; allow: readonly UserRole[] }[] = [
  { path: `/api/export/labels/${ID}`, allow: ["lead", "researcher"] },
  { path: `/api/export/model/${ID}`, allow: ["lead", "researcher"] },
];

test("signed out: every console page goes to the login page, every export answers 401", async ({ page }) => {
  for (const p of PAGES) {
    await page.goto(p.path);
    await expect(page, p.path).toHaveURL(/\/login/);
  }
  for (const r of ROUTES) {
    const res = await page.request.get(r.path, { maxRedirects: 0 });
    expect([401, 307], r.path).toContain(res.status());
  }
});

for (const role of ROLES) {
  test(`${role}: 403 on the console pages and exports of other roles`, async ({ browser }) => {
    const page = await signIn(browser, role);
    for (const p of PAGES) {
      const res = await page.goto(p.path);
      if (p.allow.includes(role)) {
        // Allowed: the page renders (unknown ids are a 404, never a 403).
        expect(res?.status(), `${p.path} as ${role}`).not.toBe(403);
        expect(res?.status(), `${p.path} as ${role}`).toBeLessThan(500);
      } else {
        expect(res?.status(), `${p.path} as ${role}`).toBe(403);
        await expect(page.getByRole("heading", { name: /403/ })).toBeVisible();
      }
    }
    for (const r of ROUTES) {
      const res = await page.request.get(r.path);
      expect(res.status(), `${r.path} as ${role}`).toBe(r.allow.includes(role) ? 404 : 403);
    }
  });
}
