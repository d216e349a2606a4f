/**
 * Scoring with onnxruntime-node on a classifier exported by exportClassifierToOnnx. onnxruntime-node
 * is loaded lazily (dynamic import) so that nothing else in @xray/ml needs it; loadOnnxRuntime()
 * returns null with the reason when it is not installed or its native binding does not load.
 */
import type * as Ort from "onnxruntime-node";
import type { ImageSet } from "../data/image-set.js";
import { binaryEntropy, type Predictions } from "../fixmatch/predict.js";
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

/** The ONNX counterpart of predictImages (deterministic pass; no MC dropout). */
export async function predictImagesOnnx(
  ort: OnnxRuntime,
  session: Ort.InferenceSession,
  images: ImageSet,
  heads: string[],
  opts: { batchSize?: number; embeddings?: boolean } = {},
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
  const fetches = opts.embeddings ? [ONNX_OUTPUTS.probs, ONNX_OUTPUTS.embedding] : [ONNX_OUTPUTS.probs];
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
    if (opts.embeddings) {
      const e = result[ONNX_OUTPUTS.embedding];
      const data = e?.data as Float32Array | undefined;
      if (!e || !data) throw new Error("onnx scoring: no embedding output");
      D = Number(e.dims[1] ?? 0);
      embeddings ??= new Float32Array(n * D);
      embeddings.set(data, start * D);
    }
  }
  return { heads, count: n, probs, entropy, ...(embeddings ? { embeddings, embeddingSize: D } : {}) };
}
