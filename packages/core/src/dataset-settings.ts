/**
 * A lead's dataset settings: blind or assisted reading, and reads wanted per image. Changing reads
 * per image recomputes every image's readsNeeded (queue.syncReadsNeeded) in the same transaction, so
 * the queue follows at once.
 */
import { type Db, datasets } from "@xray/db";
import { eq, sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { type Dataset, getDataset } from "./datasets";
import { notFound, ServiceError } from "./errors";
import { syncReadsNeeded } from "./queue";

export interface DatasetSettings {
  readingMode?: "blind" | "assisted";
  readsPerImage?: number;
  leaseMinutes?: number;
}

export async function updateDatasetSettings(
  db: Db,
  opts: { datasetId: string; settings: DatasetSettings; actor: Actor },
): Promise<Dataset> {
  const { readingMode, readsPerImage, leaseMinutes } = opts.settings;
  if (
    readsPerImage !== undefined &&
    (!Number.isInteger(readsPerImage) || readsPerImage < 1 || readsPerImage > 10)
  )
    throw new ServiceError("BAD_REQUEST", "reads per image must be a whole number from 1 to 10");
  if (
    leaseMinutes !== undefined &&
    (!Number.isInteger(leaseMinutes) || leaseMinutes < 1 || leaseMinutes > 24 * 60)
  )
    throw new ServiceError("BAD_REQUEST", "a lease lasts 1 to 1440 minutes");
  return await db.transaction(async (tx) => {
    const before = await getDataset(tx, { datasetId: opts.datasetId });
    const [row] = await tx
      .update(datasets)
      .set({
        ...(readingMode ? { readingMode } : {}),
        ...(readsPerImage !== undefined ? { readsPerImage } : {}),
        ...(leaseMinutes !== undefined ? { leaseMinutes } : {}),
        updatedAt: sql`now()`,
      })
      .where(eq(datasets.id, opts.datasetId))
      .returning({ id: datasets.id });
    if (!row) throw notFound("dataset");
    // The queue owns what "reads still needed" means; recompute it the queue's way.
    if (readsPerImage !== undefined && readsPerImage !== before.readsPerImage)
      await syncReadsNeeded(tx, { datasetId: opts.datasetId, actor: opts.actor });
    await recordAudit(tx, {
      actorId: opts.actor.id,
      action: "dataset.settings",
      resourceType: "dataset",
      resourceId: opts.datasetId,
      datasetId: opts.datasetId,
      details: {
        before: {
          readingMode: before.readingMode,
          readsPerImage: before.readsPerImage,
          leaseMinutes: before.leaseMinutes,
        },
        after: opts.settings,
      },
    });
    return await getDataset(tx, { datasetId: opts.datasetId });
  });
}
