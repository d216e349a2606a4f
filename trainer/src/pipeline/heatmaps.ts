import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { getVersion } from "@xray/core/versions";
import { type Db, images, predictions } from "@xray/db";
import { initBackend } from "@xray/ml/backend/index";
import { gradCam } from "@xray/ml/gradcam/index";
import { loadClassifier } from "@xray/ml/io/model-io";
import type { Storage } from "@xray/storage";
import { and, eq, inArray, sql } from "drizzle-orm";
import sharp from "sharp";
import { loadPixels } from "./images";

/**
 * Grad-CAM heatmaps for every head of a version on the given images, stored as grey PNGs at the
 * model's input size (letterboxed like the model input) so the viewer can colour them and set the
 * opacity itself. Keys go to predictions.heatmaps (head key -> storage key).
 */
export async function computeHeatmaps(args: {
  db: Db;
  storage: Storage;
  versionId: string;
  imageIds: string[];
  log: (line: string) => void;
}): Promise<{ images: number; heatmaps: number }> {
  const { db, storage, versionId } = args;
  if (args.imageIds.length === 0) return { images: 0, heatmaps: 0 };
  await initBackend({ log: args.log });
  const version = await getVersion(db, versionId);
  const rows = await db
    .select({ id: images.id, key: images.normalizedKey })
    .from(images)
    .where(and(eq(images.datasetId, version.datasetId), inArray(images.id, args.imageIds)));
  const net = await loadClassifier(storage.pathOf(version.artifactKey));
  const size = net.config.encoder.inputSize;
  const cacheDir = path.join(storage.root, "..", "cache");
  let count = 0;
  try {
    for (const row of rows) {
      const pixels = await loadPixels(storage, row.key, size, cacheDir);
      const x = tf.tidy(() => tf.div(tf.tensor4d(Float32Array.from(pixels), [1, size, size, 1]), 255));
      const keys: Record<string, string> = {};
      try {
        for (const head of net.headKeys) {
          const cam = await gradCam(net, x, head);
          const grey = Buffer.from(cam.heatmap.map((v) => Math.round(Math.min(1, Math.max(0, v)) * 255)));
          const png = await sharp(grey, { raw: { width: size, height: size, channels: 1 } })
            .png()
            .toBuffer();
          const { key } = await storage.putBlob(png, "png");
          keys[head] = key;
          count++;
        }
      } finally {
        x.dispose();
      }
      await db
        .update(predictions)
        .set({ heatmaps: sql`${predictions.heatmaps} || ${JSON.stringify(keys)}::jsonb` })
        .where(and(eq(predictions.versionId, versionId), eq(predictions.imageId, row.id)));
    }
  } finally {
    net.full.dispose();
  }
  return { images: rows.length, heatmaps: count };
}
