import { defineConfig } from "vitest/config";

// One runner for unit and integration tests across the workspace. Playwright journeys live in
// tests/e2e and run separately (see scripts/test.sh).
export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "trainer/src/**/*.test.ts", "tests/integration/**/*.test.ts"],
    exclude: ["**/node_modules/**", "tests/e2e/**"],
    globalSetup: ["tests/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    // Test files already run in parallel: one wasm thread each (the product default is every core).
    env: { XRAY_TF_THREADS: process.env.XRAY_TF_THREADS ?? "1" },
  },
});
