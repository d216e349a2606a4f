/**
 * Fault: PostgreSQL shuts down (fast shutdown: every session gets 57P01 admin_shutdown) while a
 * trainer worker process is in the middle of a training round. The worker must not die of an
 * unhandled error: it logs one clear line, keeps polling while the database is away, goes on when it
 * is back, and exits 0 on SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createUser, getRound, startRound } from "@xray/core";
import { seedDemo } from "@xray/core/import/demo";
import { openJobQueue } from "@xray/core/jobs";
import { closeDb, createDb, type Db } from "@xray/db";
import { type EmbeddedServer, startEmbeddedPostgres } from "@xray/db/embedded";
import { applyMigrations } from "@xray/db/migrate";
import { createLocalStorage } from "@xray/storage";
import { afterAll, describe, expect, it } from "vitest";
import { until as waitUntil } from "../helpers/until";

const root = path.resolve(import.meta.dirname, "../../..");

const until = <T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms = 120_000,
) => waitUntil(what, fn, ms);

describe("trainer worker when PostgreSQL shuts down", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "xray-fault-worker-pg-"));
  chmodSync(dir, 0o755);
  let server: EmbeddedServer | null = null;
  let worker: ChildProcess | null = null;
  let db: Db | null = null;
  afterAll(async () => {
    try {
      if (worker?.pid && worker.exitCode === null) process.kill(-worker.pid, "SIGKILL");
    } catch {
      // already gone
    }
    if (db) await closeDb(db).catch(() => {});
    await server?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it("logs the lost connection once, survives it, goes on after the restart and exits 0 on SIGTERM", {
    timeout: 240_000,
  }, async () => {
    server = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg") });
    const port = server.port;
    const url = server.url;
    db = createDb({ url, max: 4, applicationName: "fault-test" });
    await applyMigrations(db);
    const storage = createLocalStorage(path.join(dir, "storage"));
    const datasetId = (await seedDemo({ db, storage })).knee.datasetId;
    const r = await createUser(db, {
      email: "res@test.org",
      role: "researcher",
      password: "x",
      actor: null,
      skipPolicy: true,
    });
    const jobs = await openJobQueue(url);
    const round = await startRound(db, {
      actor: { id: r.id, role: "researcher" },
      datasetId,
      jobs,
      config: {
        seed: 1,
        inputSize: 32,
        encoder: { width: 8, blocks: [1] },
        fixmatch: { epochs: 200, batchSize: 16, mu: 1 },
        scoring: { strategy: "entropy", heatmapsTop: 0 },
      },
    });
    await jobs.stop();

    let output = "";
    // As scripts/start.ts runs it: node itself, so that SIGTERM reaches the worker's own handler.
    worker = spawn(process.execPath, ["--import", "tsx", path.join(root, "trainer/src/worker/main.ts")], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: url,
        XRAY_DATA_DIR: dir,
        XRAY_WORKER_ID: "w",
        XRAY_WORKER_POLL_MS: "200",
        XRAY_WORKER_STOP_GRACE_MS: "3000",
      },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const proc = worker;
    proc.stdout?.on("data", (b: Buffer) => {
      output += b.toString();
    });
    proc.stderr?.on("data", (b: Buffer) => {
      output += b.toString();
    });
    const live = db;
    await until("two finished epochs", async () => {
      const g = await getRound(live, round.id);
      return g.series.filter((m) => m.stage === "fit").length >= 2;
    });
    await closeDb(live);
    db = null;

    // Fast shutdown: PostgreSQL terminates every session with 57P01.
    await server.stop();
    server = null;
    // Long enough for several epochs (each writes a metric row) and polls to hit the dead database.
    await new Promise((r) => setTimeout(r, 8_000));
    if (process.env.XRAY_TEST_VERBOSE) console.log(output);
    expect(proc.exitCode, output).toBeNull();
    expect(output).not.toMatch(/triggerUncaughtException|Unhandled|node:internal\/process/);
    const lost = output.match(/database connection lost/g) ?? [];
    expect(lost.length, output).toBe(1);
    // The round's heartbeat fails every 2 s while the database is down: logged once, not per beat.
    expect((output.match(/progress write failed/g) ?? []).length, output).toBeLessThanOrEqual(1);

    server = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), port });
    await until(
      "the worker to see the database again",
      () => /database reachable again/.test(output),
      60_000,
    );
    expect(proc.exitCode).toBeNull();

    process.kill(proc.pid ?? 0, "SIGTERM");
    await until("the worker to exit", () => proc.exitCode !== null || proc.signalCode !== null, 30_000);
    if (process.env.XRAY_TEST_VERBOSE) console.log(output);
    expect(proc.exitCode, output).toBe(0);
    expect(output).not.toMatch(/triggerUncaughtException|Unhandled|node:internal\/process/);
  });
});
