/**
 * Runs one upload's import in its own process, spawned by app/api/imports/route.ts: decoding X-rays is
 * CPU-heavy and pulls in native and WebAssembly decoders that do not belong in the web server's bundle
 * or on its event loop. Input: one JSON argument. Output: one JSON line on stdout.
 */
import path from "node:path";
import { ServiceError } from "@xray/core/errors";
import { importXrays } from "@xray/core/import/index";
import { closeDb, createDb } from "@xray/db/client";
import { createLocalStorage, StorageFullError } from "@xray/storage";
import { z } from "zod";
import { webEnv } from "../src/server/env";

export const uploadJobSchema = z.object({
  datasetId: z.string().uuid(),
  root: z.string().min(1),
  labelsCsv: z.string().min(1).optional(),
  mapping: z.string().min(1).optional(),
  actor: z.object({ id: z.string().uuid(), role: z.enum(["annotator", "lead", "researcher", "admin"]) }),
  source: z.string().min(1).max(500),
});

async function main(): Promise<void> {
  const job = uploadJobSchema.parse(JSON.parse(process.argv[2] ?? "null"));
  const env = webEnv();
  const db = createDb({ url: env.DATABASE_URL, max: 4, applicationName: "xray-web-import" });
  try {
    const report = await importXrays({
      db,
      storage: createLocalStorage(path.resolve(env.XRAY_DATA_DIR, "storage")),
      datasetId: job.datasetId,
      root: job.root,
      labelsCsv: job.labelsCsv,
      mapping: job.mapping,
      actor: job.actor,
      source: job.source,
      onProgress: (p) => process.stderr.write(`[import] ${p.done}/${p.total}\n`),
    });
    process.stdout.write(`${JSON.stringify({ ok: true, report })}\n`);
  } catch (err) {
    if (err instanceof StorageFullError) {
      // The import row says failed with this reason; the route answers 507 with it.
      console.error(`[import] ${err.message}`);
      process.stdout.write(`${JSON.stringify({ ok: false, code: "STORAGE_FULL", message: err.message })}\n`);
      return;
    }
    if (!(err instanceof ServiceError)) throw err;
    process.stdout.write(`${JSON.stringify({ ok: false, code: err.code, message: err.message })}\n`);
  } finally {
    await closeDb(db);
  }
}

main().catch((err: unknown) => {
  console.error(`[import] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
