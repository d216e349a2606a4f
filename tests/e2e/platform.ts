import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, expect, type Page } from "@playwright/test";
import type { Actor } from "@xray/core/actor";
import { KNEE_DEMO_DATASET } from "@xray/core/import/demo";
import { createUser } from "@xray/core/users";
import { createDb, type Db, datasets, type UserRole, users } from "@xray/db";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { DEMO_ACCOUNTS, logIn } from "./fixtures";

/**
 * The e2e server's database, reached the way any tool on the machine would: the embedded
 * PostgreSQL's URL that the start script wrote into the throwaway data folder.
 */
export function e2eDataDir(): string {
  const dir = process.env.XRAY_E2E_DATA_DIR;
  if (!dir) throw new Error("XRAY_E2E_DATA_DIR is not set (run through tests/playwright.config.ts)");
  return dir;
}

export function e2eDatabaseUrl(): string {
  const file = z
    .object({ url: z.string() })
    .parse(JSON.parse(readFileSync(path.join(e2eDataDir(), "pg-server.json"), "utf8")));
  return file.url;
}

export function openE2eDb(): Db {
  return createDb({ url: e2eDatabaseUrl(), max: 3, applicationName: "xray-e2e" });
}

export async function kneeDataset(db: Db) {
  const [ds] = await db.select().from(datasets).where(eq(datasets.name, KNEE_DEMO_DATASET));
  if (!ds) throw new Error("the knee demo dataset is missing (the start script seeds it)");
  return ds;
}

export async function actorOf(db: Db, email: string): Promise<Actor> {
  const [u] = await db.select({ id: users.id, role: users.role }).from(users).where(eq(users.email, email));
  if (!u) throw new Error(`no user ${email}`);
  return u;
}

/** A fresh annotator (the seeded readers of a journey), unique per run. */
export async function makeAnnotator(db: Db, label: string): Promise<Actor> {
  const u = await createUser(db, {
    email: `${label}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@xray.local`,
    name: label,
    role: "annotator",
    password: "E2e-annotator-pass-1",
    actor: null,
    skipPolicy: true,
  });
  return { id: u.id, role: u.role };
}

/** Where the journeys save the README's screenshots (docs/screenshots/). */
export function shot(name: string): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/screenshots", name);
}

/**
 * A fresh signed-in page for a demo role. The journeys sign in themselves rather than reuse the
 * shared .auth/ storage state, so that another Playwright run on the same checkout (another port,
 * another AUTH_SECRET) cannot swap their sessions underneath them.
 */
export async function signIn(browser: Browser, role: UserRole): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await logIn(page, DEMO_ACCOUNTS[role].email, DEMO_ACCOUNTS[role].password);
  await expect(page.getByTestId("current-role")).toHaveText(role);
  return page;
}
