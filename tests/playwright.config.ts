import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, devices } from "@playwright/test";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const port = Number(process.env.XRAY_E2E_PORT ?? 3100);
export const baseURL = `http://127.0.0.1:${port}`;

// A throwaway install per run (embedded PostgreSQL, storage, auth secret). Set once in the main
// process; the workers inherit it through the environment.
if (!process.env.XRAY_E2E_DATA_DIR) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "xray-e2e-"));
  // As root, the embedded PostgreSQL runs as a system user who must be able to enter the folder.
  chmodSync(dir, 0o755);
  process.env.XRAY_E2E_DATA_DIR = dir;
  // Removed when the runner exits (after the web server is stopped); XRAY_E2E_KEEP_DATA=1 keeps it.
  if (!process.env.XRAY_E2E_KEEP_DATA)
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
}
const dataDir = process.env.XRAY_E2E_DATA_DIR;

// Trainer workers the journeys spawn share 2 cores with the browser, the web server and PostgreSQL:
// one wasm thread each, as `pnpm start` gives its worker on such a machine (the product default,
// every core, is for a worker with a machine of its own).
process.env.XRAY_TF_THREADS ??= "1";

// Debian's chromium, never a downloaded browser.
const executablePath = process.env.XRAY_CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing: apt-get install -y chromium`);

export default defineConfig({
  testDir: "./e2e",
  // Concurrent runs need their own XRAY_E2E_OUTPUT and XRAY_E2E_PORT (a run empties its output folder).
  outputDir: process.env.XRAY_E2E_OUTPUT ?? path.join(root, "test-results"),
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    // XRAY_E2E_SCREENSHOTS=1 keeps a screenshot of every test's last page under test-results/.
    screenshot: process.env.XRAY_E2E_SCREENSHOTS ? "on" : "only-on-failure",
    viewport: { width: 1366, height: 768 },
    launchOptions: {
      executablePath,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  projects: [
    { name: "setup", testMatch: /.*\.setup\.ts/ },
    {
      name: "chromium",
      use: { ...devices["Desktop Chrome"], viewport: { width: 1366, height: 768 } },
      dependencies: ["setup"],
      testMatch: /.*\.spec\.ts/,
    },
  ],
  // The production server as `pnpm start` runs it (embedded PostgreSQL, demo users and images), on a
  // fresh data folder; needs `pnpm build` first.
  webServer: {
    command: "pnpm exec tsx scripts/start.ts",
    cwd: root,
    url: `${baseURL}/login`,
    timeout: 300_000,
    reuseExistingServer: false,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      PORT: String(port),
      HOSTNAME: "127.0.0.1",
      XRAY_DATA_DIR: dataDir,
      XRAY_WORKERS: "0",
      NEXT_TELEMETRY_DISABLED: "1",
    },
  },
});
