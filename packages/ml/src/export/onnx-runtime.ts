/**
 * Scoring with onnxruntime-node on a classifier exported by exportClassifierToOnnx. onnxruntime-node
 * is loaded lazily (dynamic import) so that nothing else in @xray/ml needs it; loadOnnxRuntime()
 * returns null with the reason when it is not installed or its native binding does not load.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as Ort from "onnxruntime-node";
import type { ImageSet } from "../data/image-set.js";
import { binaryEntropy, type Predictions } from "../fixmatch/predict.js";
import type { ClassifierNet } from "../models/resnet.js";
import { mixSeed } from "../train/seed.js";
import { ONNX_INPUT, ONNX_OUTPUTS } from "./onnx.js";

export type OnnxRuntime = typeof Ort;

export async function loadOnnxRuntime(): Promise<{ ort: OnnxRuntime } | { ort: null; reason: string }> {
  try {
    const mod = (await import("onnxruntime-node")) as OnnxRuntime & { default?: OnnxRuntime };
    const ort = mod.InferenceSession ? mod : mod.default;
    if (!ort?.InferenceSession)
      return { ort: null, reason: "onnxruntime-node has no InferenceSession export" };
    return { ort };
  } catch (err) {
    return { ort: null, reason: err instanceof Error ? err.message : String(err) };
  }
}

export async function createOnnxSession(
  ort: OnnxRuntime,
  model: Uint8Array,
  opts: { threads?: number } = {},
): Promise<Ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
  });
}

/**
 * The ONNX counterpart of predictImages. The encoder runs in onnxruntime; with `mc` the MC-dropout
 * passes (dropout + the tiny heads layer only, as predictImages does) run on TF.js from the ONNX
 * embeddings with predictImages' seeds, so the same batch size gives the same mcMean and BALD.
 */
export async function predictImagesOnnx(
  ort: OnnxRuntime,
  session: Ort.InferenceSession,
  images: ImageSet,
  heads: string[],
  opts: {
    batchSize?: number;
    embeddings?: boolean;
    mc?: { net: ClassifierNet; samples: number; seed?: number };
  } = {},
): Promise<Predictions> {
  const bs = opts.batchSize ?? 64;
  const K = heads.length;
  const n = images.count;
  const S = images.size;
  const px = S * S;
  const probs = new Float32Array(n * K);
  const entropy = new Float32Array(n * K);
  let embeddings: Float32Array | undefined;
  let D = 0;
  const T = opts.mc?.samples ?? 0;
  const mcMean = T > 0 ? new Float32Array(n * K) : undefined;
  const bald = T > 0 ? new Float32Array(n * K) : undefined;
  const wantEmbedding = opts.embeddings || T > 0;
  const fetches = wantEmbedding ? [ONNX_OUTPUTS.probs, ONNX_OUTPUTS.embedding] : [ONNX_OUTPUTS.probs];
  for (let start = 0; start < n; start += bs) {
    const m = Math.min(bs, n - start);
    const x = new Float32Array(m * px);
    const src = images.pixels.subarray(start * px, (start + m) * px);
    for (let j = 0; j < x.length; j++) x[j] = (src[j] ?? 0) / 255;
    const result = await session.run({ [ONNX_INPUT]: new ort.Tensor("float32", x, [m, S, S, 1]) }, fetches);
    const p = result[ONNX_OUTPUTS.probs]?.data as Float32Array | undefined;
    if (!p || p.length !== m * K) throw new Error("onnx scoring: probs output has the wrong size");
    probs.set(p, start * K);
    for (let j = 0; j < p.length; j++) entropy[start * K + j] = binaryEntropy(p[j] ?? 0.5);
    if (wantEmbedding) {
      const e = result[ONNX_OUTPUTS.embedding];
      const data = e?.data as Float32Array | undefined;
      if (!e || !data) throw new Error("onnx scoring: no embedding output");
      D = Number(e.dims[1] ?? 0);
      if (opts.embeddings) {
        embeddings ??= new Float32Array(n * D);
        embeddings.set(data, start * D);
      }
      if (opts.mc && mcMean && bald) {
        const { net, seed = 0 } = opts.mc;
        const h = tf.tensor2d(data, [m, D]);
        const sumP = new Float64Array(m * K);
        const sumH = new Float64Array(m * K);
        for (let t = 0; t < T; t++) {
          const pt = tf.tidy(() =>
            tf.sigmoid(
              net.heads.apply(
                tf.dropout(h, net.config.dropout, undefined, mixSeed(seed, start, t)),
              ) as tf.Tensor2D,
            ),
          );
          const d = (await pt.data()) as Float32Array;
          pt.dispose();
          for (let j = 0; j < d.length; j++) {
            sumP[j] = (sumP[j] ?? 0) + (d[j] ?? 0);
            sumH[j] = (sumH[j] ?? 0) + binaryEntropy(d[j] ?? 0.5);
          }
        }
        h.dispose();
        for (let j = 0; j < m * K; j++) {
          const mean = (sumP[j] ?? 0) / T;
          mcMean[start * K + j] = mean;
          bald[start * K + j] = Math.max(0, binaryEntropy(mean) - (sumH[j] ?? 0) / T);
        }
      }
    }
  }
  return {
    heads,
    count: n,
    probs,
    entropy,
    ...(mcMean ? { mcMean } : {}),
    ...(bald ? { bald } : {}),
    ...(embeddings ? { embeddings, embeddingSize: D } : {}),
  };
}
