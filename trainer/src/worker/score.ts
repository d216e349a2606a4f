import { runScoring } from "./scoring";
import type { WorkerContext } from "./worker";

/**
 * Scores the pool with a version on demand (e.g. after an import: only the images it has not scored
 * yet), split into shards that other workers help with; the last shard re-ranks the queue if the
 * version is active (or cold-starts it on the version's embeddings when none is active).
 */
export async function runScoreJob(ctx: WorkerContext, data: { versionId: string }): Promise<void> {
  const r = await runScoring(ctx, { versionId: data.versionId });
  ctx.log(
    `version ${data.versionId}: scored ${r.mine.scored} images in ${r.mine.shards.length} shard(s) here; ${r.outcome}`,
  );
}
