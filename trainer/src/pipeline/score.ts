import path from "node:path";
import type { RoundConfig } from "@xray/core/round-config";
import { getVersion } from "@xray/core/versions";
import { type Db, images, predictions } from "@xray/db";
import { initBackend } from "@xray/ml/backend/index";
import type { ImageSet } from "@xray/ml/data/image-set";
import { createImageScorer } from "@xray/ml/export/scorer";
import { loadClassifier } from "@xray/ml/io/model-io";
import { binaryUncertainty } from "@xray/ml/selection/uncertainty";
import type { Storage } from "@xray/storage";
import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { RoundReporter } from "../worker/progress";
import { loadPixelBatch } from "./images";

export interface ScoreVersionArgs {
  db: Db;
  storage: Storage;
  versionId: string;
  config: Pick<RoundConfig, "seed" | "scoring">;
  reporter?: RoundReporter;
  log: (line: string) => void;
  /** Images per inference chunk (decoded, predicted and written together). */
  chunkSize?: number;
}

/**
 * Scores every image of the version's dataset that this version has not scored yet: per-head
 * probabilities, uncertainty scores (entropy, margin, least confidence, BALD with MC dropout) and the
 * embedding. Resumable: a killed scorer continues where the rows stop; several workers can score
 * different versions at once.
 */
export async function scoreVersion(args: ScoreVersionArgs): Promise<{ scored: number }> {
  const { db, storage, versionId, config, reporter, log } = args;
  await initBackend({ log });
  const version = await getVersion(db, versionId);
  const net = await loadClassifier(storage.pathOf(version.artifactKey));
  // TF.js unless XRAY_SCORE_ENGINE=onnx (onnxruntime-node on the version exported to ONNX).
  const scorer = await createImageScorer(net, { log });
  const heads = net.headKeys;
  const size = net.config.encoder.inputSize;
  const cacheDir = path.join(storage.root, "..", "cache");
  const chunk = args.chunkSize ?? 256;
  const [{ total } = { total: 0 }] = await db
    .select({ total: sql<number>`count(*)::int` })
    .from(images)
    .where(eq(images.datasetId, version.datasetId));
  let scored = 0;
  let lastId = "00000000-0000-0000-0000-000000000000";
  const started = Date.now();
  try {
    for (;;) {
      // Keyset pagination over the images this version has not scored.
      const batch = await db
        .select({ id: images.id, key: images.normalizedKey })
        .from(images)
        .where(
          and(
            eq(images.datasetId, version.datasetId),
            gt(images.id, lastId),
            sql`not exists (select 1 from ${predictions} p where p.version_id = ${versionId} and p.image_id = ${images.id})`,
          ),
        )
        .orderBy(asc(images.id))
        .limit(chunk);
      if (batch.length === 0) break;
      lastId = batch[batch.length - 1]?.id ?? lastId;
      const set: ImageSet = {
        count: batch.length,
        size,
        pixels: await loadPixelBatch(
          storage,
          batch.map((b) => b.key),
          size,
          cacheDir,
        ),
      };
      const mc = config.scoring.mcDropoutSamples;
      const p = await scorer.score(set, {
        batchSize: 64,
        mcSamples: mc,
        seed: config.seed,
        embeddings: true,
      });
      const K = heads.length;
      const D = p.embeddingSize ?? 0;
      const values = batch.map((b, i) => {
        const probs: Record<string, number> = {};
        let entropy = 0;
        let margin = 0;
        let least = 0;
        let bald = 0;
        heads.forEach((h, j) => {
          const pr = p.probs[i * K + j] ?? 0.5;
          probs[h] = pr;
          entropy = Math.max(entropy, binaryUncertainty(pr, "entropy"));
          margin = Math.max(margin, binaryUncertainty(pr, "margin"));
          least = Math.max(least, binaryUncertainty(pr, "least-confidence"));
          if (p.bald) bald = Math.max(bald, p.bald[i * K + j] ?? 0);
        });
        const scores: Record<string, number> = { entropy, margin, leastConfidence: least };
        if (p.bald) scores.bald = bald;
        return {
          versionId,
          imageId: b.id,
          probs,
          scores,
          uncertainty: p.bald ? bald : entropy,
          embedding: p.embeddings ? Array.from(p.embeddings.subarray(i * D, (i + 1) * D)) : null,
        };
      });
      await db.insert(predictions).values(values).onConflictDoNothing();
      scored += batch.length;
      const rate = scored / Math.max(0.001, (Date.now() - started) / 1000);
      reporter?.update({
        stage: "scoring",
        step: scored,
        steps: total,
        message: `${scored} images scored (${rate.toFixed(1)}/s)`,
      });
      reporter?.check();
    }
  } finally {
    await scorer.release();
    net.full.dispose();
  }
  log(`version ${versionId}: scored ${scored} images`);
  return { scored };
}
