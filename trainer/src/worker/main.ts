/**
 * A trainer worker process: `pnpm trainer worker` (or `tsx trainer/src/worker/main.ts`). Takes
 * training rounds, pool scoring and heatmap jobs from the platform's PostgreSQL (DATABASE_URL, or
 * the embedded server of this install). Run any number of them, on any machine that shares the
 * database and the storage folder (XRAY_DATA_DIR).
 */
import { openPlatform } from "@xray/core";
import { z } from "zod";
import { startWorker } from "./worker";

const env = z
  .object({
    XRAY_WORKER_ID: z.string().min(1).optional(),
    XRAY_WORKER_STALE_MS: z.coerce.number().int().min(1000).optional(),
    XRAY_WORKER_POLL_MS: z.coerce.number().int().min(50).optional(),
  })
  .parse({
    XRAY_WORKER_ID: process.env.XRAY_WORKER_ID || undefined,
    XRAY_WORKER_STALE_MS: process.env.XRAY_WORKER_STALE_MS || undefined,
    XRAY_WORKER_POLL_MS: process.env.XRAY_WORKER_POLL_MS || undefined,
  });

export async function runWorkerMain(): Promise<void> {
  const platform = await openPlatform({
    log: (l) => console.log(`[worker] ${l}`),
    applicationName: "xray-worker",
  });
  const worker = await startWorker({
    platform,
    ...(env.XRAY_WORKER_ID ? { workerId: env.XRAY_WORKER_ID } : {}),
    ...(env.XRAY_WORKER_STALE_MS ? { staleAfterMs: env.XRAY_WORKER_STALE_MS } : {}),
    ...(env.XRAY_WORKER_POLL_MS ? { pollMs: env.XRAY_WORKER_POLL_MS } : {}),
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await worker.stop();
    await platform.close();
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
