import { expect, logIn, test } from "./fixtures";
import { signIn } from "./platform";

test("an admin creates a lead, who signs in with that role and reaches review; once disabled, they cannot", async ({
  browser,
}) => {
  const admin = await signIn(browser, "admin");
  const email = `new-lead-${Date.now()}@clinic.test`;
  const password = "Fresh-lead-2026-x";
  await admin.goto("/admin/users");
  await admin.getByLabel("E-mail").fill(email);
  await admin.getByLabel("Name").fill("New Lead");
  await admin.getByLabel("Password").fill(password);
  await admin.locator("form").getByRole("combobox").selectOption("lead");
  await admin.getByRole("button", { name: "Add user" }).click();
  const row = admin.locator(`[data-testid="user-row"][data-email="${email}"]`);
  await expect(row).toBeVisible();
  await expect(row.getByLabel(`Role of ${email}`)).toHaveValue("lead");

  const context = await browser.newContext();
  const lead = await context.newPage();
  await logIn(lead, email, password);
  await expect(lead.getByTestId("current-role")).toHaveText("lead");
  await lead.getByRole("link", { name: "Review", exact: true }).click();
  await expect(lead).toHaveURL(/\/review/);
  await expect(lead.getByTestId("review-total")).toBeVisible();

  await row.getByRole("button", { name: "Disable" }).click();
  await expect(row.getByText("disabled")).toBeVisible();
  await lead.goto("/review");
  await expect(lead).toHaveURL(/\/login/);
  await logIn(lead, email, password);
  await expect(lead.locator("form").getByRole("alert")).toHaveText(/account is disabled/);
  await context.close();
});
