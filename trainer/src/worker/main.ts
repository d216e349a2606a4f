/**
 * A trainer worker process: `pnpm trainer worker` (or `tsx trainer/src/worker/main.ts`). Takes
 * training rounds, pool scoring and heatmap jobs from the platform's PostgreSQL (DATABASE_URL, or
 * the embedded server of this install). Run any number of them, on any machine that shares the
 * database and the storage folder (XRAY_DATA_DIR).
 */
import { openPlatform, type Platform } from "@xray/core";
import { initBackend } from "@xray/ml/backend/index";
import { sql } from "drizzle-orm";
import { z } from "zod";
import { describeConnectionError, isConnectionError } from "./db-errors";
import { startWorker } from "./worker";

const env = z
  .object({
    XRAY_WORKER_ID: z.string().min(1).optional(),
    XRAY_WORKER_STALE_MS: z.coerce.number().int().min(1000).optional(),
    XRAY_WORKER_POLL_MS: z.coerce.number().int().min(50).optional(),
    /** How long SIGINT/SIGTERM waits for the running job before exiting (it resumes elsewhere). */
    XRAY_WORKER_STOP_GRACE_MS: z.coerce.number().int().min(0).default(15_000),
  })
  .parse({
    XRAY_WORKER_ID: process.env.XRAY_WORKER_ID || undefined,
    XRAY_WORKER_STALE_MS: process.env.XRAY_WORKER_STALE_MS || undefined,
    XRAY_WORKER_POLL_MS: process.env.XRAY_WORKER_POLL_MS || undefined,
    XRAY_WORKER_STOP_GRACE_MS: process.env.XRAY_WORKER_STOP_GRACE_MS || undefined,
  });

/**
 * Errors that reach the process (a rejected promise nobody awaited, an error event nobody handled)
 * because the database went away: one line per outage, a probe that says when it is back, and
 * nothing else — the worker loop keeps polling and the pools reconnect by themselves. While
 * stopping, such an error just ends the process with 0. Any other unhandled error still ends the
 * process with 1, as Node would.
 */
function guardDatabaseErrors(platform: () => Platform | null, isStopping: () => boolean): void {
  let down = false;
  let probe: NodeJS.Timeout | null = null;
  const onError = (kind: string) => (err: unknown) => {
    // While stopping, a failing write of the abandoned job is no news: exit as planned.
    if (isStopping()) process.exit(0);
    if (isConnectionError(err)) {
      if (down) return;
      down = true;
      console.warn(
        `[worker] database connection lost (${describeConnectionError(err)}); the worker keeps polling and reconnects when it is back`,
      );
      probe = setInterval(() => {
        const p = platform();
        if (!p) return;
        p.db
          .execute(sql`select 1`)
          .then(() => {
            if (!down) return;
            down = false;
            if (probe) clearInterval(probe);
            console.log("[worker] database reachable again");
          })
          .catch(() => {});
      }, 1_000);
      probe.unref();
      return;
    }
    console.error(`[worker] ${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  };
  process.on("unhandledRejection", onError("unhandled rejection"));
  process.on("uncaughtException", onError("uncaught exception"));
}

export async function runWorkerMain(): Promise<void> {
  let platform: Platform | null = null;
  let stopping = false;
  // The TF.js wasm backend (emscripten) adds process handlers that rethrow every unhandled rejection
  // and exception, which would turn a lost database connection back into a crash. Load it now,
  // drop the handlers it added (they only rethrow: Node's default), then install ours.
  const before = {
    unhandledRejection: new Set(process.listeners("unhandledRejection")),
    uncaughtException: new Set(process.listeners("uncaughtException")),
  };
  await initBackend({ log: (l) => console.log(`[worker] ${l}`) });
  for (const l of process.listeners("unhandledRejection"))
    if (!before.unhandledRejection.has(l)) process.removeListener("unhandledRejection", l);
  for (const l of process.listeners("uncaughtException"))
    if (!before.uncaughtException.has(l)) process.removeListener("uncaughtException", l);
  guardDatabaseErrors(
    () => platform,
    () => stopping,
  );
  platform = await openPlatform({
    log: (l) => console.log(`[worker] ${l}`),
    applicationName: "xray-worker",
  });
  const opened = platform;
  const worker = await startWorker({
    platform: opened,
    ...(env.XRAY_WORKER_ID ? { workerId: env.XRAY_WORKER_ID } : {}),
    ...(env.XRAY_WORKER_STALE_MS ? { staleAfterMs: env.XRAY_WORKER_STALE_MS } : {}),
    ...(env.XRAY_WORKER_POLL_MS ? { pollMs: env.XRAY_WORKER_POLL_MS } : {}),
  });
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const graceful = worker.stop().then(() => true);
    const timedOut = new Promise<false>((r) =>
      setTimeout(() => r(false), env.XRAY_WORKER_STOP_GRACE_MS).unref(),
    );
    const clean = await Promise.race([graceful, timedOut]).catch(() => false);
    if (!clean) {
      // The job is left as it is (its heartbeat goes stale): a round resumes from its checkpoint
      // elsewhere, a scoring shard where its rows stop. Closing the pool under it would only add noise.
      console.log("[worker] stopping with a job still running; it resumes on another worker");
      process.exit(0);
    }
    await Promise.race([opened.close(), new Promise((r) => setTimeout(r, 2_000).unref())]).catch(() => {});
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
  await worker.done;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runWorkerMain().catch((err: unknown) => {
    console.error(`[worker] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  });
}
