import { expect, test } from "@playwright/test";
import { logIn } from "./fixtures";
import { DEMO_ACCOUNTS, ROLES, storageStateOf } from "./roles";

for (const role of ROLES) {
  test(`sign in as ${role}`, async ({ page }) => {
    const { email, password } = DEMO_ACCOUNTS[role];
    await logIn(page, email, password);
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByTestId("current-role")).toHaveText(role);
    await page.context().storageState({ path: storageStateOf(role) });
  });
}
