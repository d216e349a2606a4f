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
import { and, asc, eq, gt, gte, lt, sql } from "drizzle-orm";
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

export type PredictionRow = typeof predictions.$inferInsert;

/** A slice of the pool by image id: [fromId, toId), toId null for no upper bound. */
export interface IdRange {
  fromId: string;
  toId: string | null;
}

export interface ScoreRangeHooks {
  /**
   * Stores one chunk's rows. Default: one INSERT ... ON CONFLICT DO NOTHING. A shard passes its own
   * (the insert and its progress counter in one transaction, guarded by its lease).
   */
  write?: (rows: PredictionRow[]) => Promise<void>;
  /** Called after every stored chunk; throw to stop (cancelled, lease lost). */
  afterChunk?: (done: number) => Promise<void> | void;
  signal?: AbortSignal;
}

export interface VersionScorer {
  datasetId: string;
  /** Scores every image of the range that the version has not scored yet; returns how many it scored. */
  scoreRange(range: IdRange, hooks?: ScoreRangeHooks): Promise<number>;
  release(): Promise<void>;
}

const MIN_UUID = "00000000-0000-0000-0000-000000000000";

/**
 * Loads a version once for scoring any number of pool slices: per-head probabilities, uncertainty
 * scores (entropy, margin, least confidence, BALD with MC dropout) and the embedding per image.
 * Resumable: a slice skips the images this version already scored, so a killed scorer continues
 * where the rows stop.
 */
export async function openVersionScorer(args: {
  db: Db;
  storage: Storage;
  versionId: string;
  config: Pick<RoundConfig, "seed" | "scoring">;
  log: (line: string) => void;
  chunkSize?: number;
}): Promise<VersionScorer> {
  const { db, storage, versionId, config, log } = args;
  await initBackend({ log });
  const version = await getVersion(db, versionId);
  const net = await loadClassifier(storage.pathOf(version.artifactKey));
  // TF.js unless XRAY_SCORE_ENGINE=onnx (onnxruntime-node on the version exported to ONNX).
  const scorer = await createImageScorer(net, { log });
  const heads = net.headKeys;
  const size = net.config.encoder.inputSize;
  const cacheDir = path.join(storage.root, "..", "cache");
  const chunk = args.chunkSize ?? 256;
  const insert = async (rows: PredictionRow[]) => {
    await db.insert(predictions).values(rows).onConflictDoNothing();
  };

  const scoreRange = async (range: IdRange, hooks: ScoreRangeHooks = {}): Promise<number> => {
    const write = hooks.write ?? insert;
    let scored = 0;
    let lastId: string | null = null;
    for (;;) {
      hooks.signal?.throwIfAborted();
      // Keyset pagination over the range's images this version has not scored.
      const batch = await db
        .select({ id: images.id, key: images.normalizedKey })
        .from(images)
        .where(
          and(
            eq(images.datasetId, version.datasetId),
            lastId === null ? gte(images.id, range.fromId || MIN_UUID) : gt(images.id, lastId),
            range.toId ? lt(images.id, range.toId) : undefined,
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
      hooks.signal?.throwIfAborted();
      const K = heads.length;
      const D = p.embeddingSize ?? 0;
      const values = batch.map((b, i): PredictionRow => {
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
      await write(values);
      scored += batch.length;
      await hooks.afterChunk?.(scored);
    }
    return scored;
  };

  return {
    datasetId: version.datasetId,
    scoreRange,
    async release() {
      await scorer.release();
      net.full.dispose();
    },
  };
}

/**
 * Scores every image of the version's dataset that this version has not scored yet, in one process
 * (the research CLI and small pools; the worker splits a pool into shards, see worker/scoring.ts).
 */
export async function scoreVersion(args: ScoreVersionArgs): Promise<{ scored: number }> {
  const { db, versionId, reporter, log } = args;
  const s = await openVersionScorer(args);
  const [{ total } = { total: 0 }] = await db
    .select({ total: sql<number>`count(*)::int` })
    .from(images)
    .where(eq(images.datasetId, s.datasetId));
  const started = Date.now();
  let scored = 0;
  try {
    scored = await s.scoreRange(
      { fromId: MIN_UUID, toId: null },
      {
        afterChunk: (done) => {
          const rate = done / Math.max(0.001, (Date.now() - started) / 1000);
          reporter?.update({
            stage: "scoring",
            step: done,
            steps: total,
            message: `${done} images scored (${rate.toFixed(1)}/s)`,
          });
          reporter?.check();
        },
      },
    );
  } finally {
    await s.release();
  }
  log(`version ${versionId}: scored ${scored} images`);
  return { scored };
}
