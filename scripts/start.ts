/**
 * `pnpm start`: the whole product on one machine. Starts (or connects to) PostgreSQL, applies
 * migrations, seeds the demo users and data on first start, then runs the production web server
 * (apps/web/server-tasks/web-server.ts) and one trainer worker beside it. Ctrl-C stops everything,
 * the embedded database last.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openPlatform } from "@xray/core";
import { seedDemo } from "@xray/core/import/demo";
import { createUser, listUsers } from "@xray/core/users";
import type { UserRole } from "@xray/db";
import { z } from "zod";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const t0 = performance.now();
const env = z
  .object({
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    HOSTNAME: z.string().default("0.0.0.0"),
    XRAY_WORKERS: z.coerce.number().int().min(0).max(16).default(1),
    XRAY_SKIP_DEMO: z.enum(["0", "1"]).default("0"),
  })
  .parse({
    PORT: process.env.PORT || undefined,
    HOSTNAME: process.env.HOSTNAME || undefined,
    XRAY_WORKERS: process.env.XRAY_WORKERS || undefined,
    XRAY_SKIP_DEMO: process.env.XRAY_SKIP_DEMO || undefined,
  });
const log = (line: string) => console.log(`[start] ${line}`);

/**
 * wasm threads per local trainer worker: XRAY_TF_THREADS when set, else the cores left after one
 * for the web server, shared by the workers (at least 1). A round on every core would starve the
 * annotators' requests on a small machine; a worker on its own machine uses every core.
 */
function workerThreads(workers: number): string {
  if (process.env.XRAY_TF_THREADS) return process.env.XRAY_TF_THREADS;
  return String(Math.max(1, Math.floor((availableParallelism() - 1) / Math.max(1, workers))));
}

/** Demo accounts only: documented in the README, printed on first start. Change or disable them for real use. */
const DEMO_USERS: { role: UserRole; email: string; password: string }[] = [
  { role: "admin", email: "admin@xray.local", password: "demo-admin-xray" },
  { role: "lead", email: "lead@xray.local", password: "demo-lead-xray" },
  { role: "researcher", email: "researcher@xray.local", password: "demo-researcher-xray" },
  { role: "annotator", email: "annotator@xray.local", password: "demo-annotator-xray" },
];

function authSecret(dataDir: string): string {
  if (process.env.AUTH_SECRET) return process.env.AUTH_SECRET;
  const file = path.join(dataDir, "auth-secret");
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600 });
  return readFileSync(file, "utf8").trim();
}

async function waitForHttp(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`web server exited with code ${child.exitCode}`);
    try {
      const res = await fetch(url, { redirect: "manual" });
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`web server did not answer on ${url} within ${timeoutMs / 1000}s`);
}

async function main(): Promise<void> {
  const webDir = path.join(root, "apps/web");
  if (!existsSync(path.join(webDir, ".next", "BUILD_ID"))) {
    throw new Error(
      "no production build of the portal: run `pnpm build` first (scripts/up.sh does it for you)",
    );
  }
  const platform = await openPlatform({ log, applicationName: "xray-start" });
  log(`database ready (${platform.embedded ? "embedded PostgreSQL" : "DATABASE_URL"})`);

  if ((await listUsers(platform.db)).length === 0) {
    for (const u of DEMO_USERS) {
      await createUser(platform.db, { ...u, name: `Demo ${u.role}`, actor: null, skipPolicy: true });
    }
    console.log("\nDemo accounts (demo only: change or disable them before real use):");
    for (const u of DEMO_USERS) console.log(`  ${u.role.padEnd(10)} ${u.email.padEnd(24)} ${u.password}`);
    console.log("");
  }
  if (env.XRAY_SKIP_DEMO === "0") {
    await seedDemo({ db: platform.db, storage: platform.storage, log });
  }

  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production" as const,
    NEXT_TELEMETRY_DISABLED: "1",
    DATABASE_URL: platform.databaseUrl,
    XRAY_DATA_DIR: platform.dataDir,
    AUTH_SECRET: authSecret(platform.dataDir),
    AUTH_TRUST_HOST: "true",
  };
  const children: ChildProcess[] = [];
  // Next's handler behind a small http server that takes the client address from the socket
  // (XRAY_TRUSTED_PROXIES names the reverse proxies whose X-Forwarded-For counts): docs/security.md.
  const webServer = path.join(webDir, "server-tasks/web-server.ts");
  const web = spawn(process.execPath, ["--import", "tsx", webServer], {
    cwd: webDir,
    env: { ...childEnv, PORT: String(env.PORT), HOSTNAME: env.HOSTNAME },
    stdio: "inherit",
  });
  children.push(web);
  const workerEntry = path.join(root, "trainer/src/worker/main.ts");
  const threads = workerThreads(env.XRAY_WORKERS);
  if (env.XRAY_WORKERS > 0) log(`trainer workers: ${env.XRAY_WORKERS} x ${threads} wasm thread(s)`);
  for (let i = 0; i < env.XRAY_WORKERS; i++) {
    const worker = spawn(process.execPath, ["--import", "tsx", workerEntry], {
      cwd: root,
      env: { ...childEnv, XRAY_WORKER_ID: `local-${i + 1}`, XRAY_TF_THREADS: threads },
      stdio: "inherit",
    });
    children.push(worker);
  }

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log("stopping...");
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    await Promise.all(
      children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : Promise.resolve())),
    );
    await platform.close();
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  web.on("exit", (code) => {
    if (!stopping) {
      log(`web server exited (${code}); shutting down`);
      void stop(code ?? 1);
    }
  });

  const url = `http://localhost:${env.PORT}`;
  await waitForHttp(`${url}/login`, web, 120_000);
  log(`portal ready on ${url} (${((performance.now() - t0) / 1000).toFixed(1)} s after start)`);
}

main().catch((err: unknown) => {
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
