import { computeHeatmaps } from "../pipeline/heatmaps";
import type { WorkerContext } from "./worker";

export async function runHeatmapsJob(
  ctx: WorkerContext,
  data: { versionId: string; imageIds: string[] },
): Promise<void> {
  const { db, storage } = ctx.platform;
  const r = await computeHeatmaps({
    db,
    storage,
    versionId: data.versionId,
    imageIds: data.imageIds,
    log: ctx.log,
  });
  ctx.log(`version ${data.versionId}: ${r.heatmaps} heatmaps for ${r.images} images`);
}
