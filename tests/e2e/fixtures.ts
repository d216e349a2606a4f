import { test as base, expect, type Page } from "@playwright/test";
import type { UserRole } from "@xray/db";
import { DEMO_ACCOUNTS, storageStateOf } from "./roles";

/** Fills the login form and waits for the portal (or for the form's error). */
export async function logIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto("/login");
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

interface Fixtures {
  /** A page signed in as the given role (from the setup's stored state), in its own context. */
  pageAs: (role: UserRole) => Promise<Page>;
}

export const test = base.extend<Fixtures>({
  pageAs: async ({ browser }, use) => {
    const contexts: Awaited<ReturnType<typeof browser.newContext>>[] = [];
    await use(async (role) => {
      const context = await browser.newContext({ storageState: storageStateOf(role) });
      contexts.push(context);
      return await context.newPage();
    });
    for (const c of contexts) await c.close();
  },
});

export { DEMO_ACCOUNTS, expect };
