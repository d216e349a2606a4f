import { rankQueue } from "@xray/core/priorities";
import { parseRoundConfig } from "@xray/core/round-config";
import { getVersion } from "@xray/core/versions";
import { scoreVersion } from "../pipeline/score";
import type { WorkerContext } from "./worker";

/** Scores the pool with a version (on demand, e.g. after an import) and re-ranks if it is active. */
export async function runScoreJob(ctx: WorkerContext, data: { versionId: string }): Promise<void> {
  const { db, storage } = ctx.platform;
  const version = await getVersion(db, data.versionId);
  const config = parseRoundConfig(version.config);
  await scoreVersion({ db, storage, versionId: version.id, config, log: ctx.log });
  if (version.isActive) {
    await rankQueue(db, {
      datasetId: version.datasetId,
      versionId: version.id,
      strategy: config.scoring.strategy,
      batchSize: config.scoring.batchSize,
      seed: config.seed,
    });
  }
}
