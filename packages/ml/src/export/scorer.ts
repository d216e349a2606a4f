/**
 * One entry point for pool scoring with either engine: TF.js (predictImages on the fused inference
 * plan, the default) or onnxruntime-node on the classifier exported to ONNX (XRAY_SCORE_ENGINE=onnx).
 * The ONNX engine gives the same outputs (probabilities, entropy, embeddings, MC-dropout BALD; parity
 * tested in onnx.test.ts) about 3x faster on the 2-core CPU (docs/benchmarks.md, "Pool scoring
 * throughput").
 * If onnxruntime-node cannot load, it logs why and falls back to TF.js.
 */
import os from "node:os";
import type { ImageSet } from "../data/image-set.js";
import { readMlEnv } from "../env.js";
import { type Predictions, predictImages, tryCompileFusedClassifier } from "../fixmatch/predict.js";
import type { ClassifierNet } from "../models/resnet.js";
import { exportClassifierToOnnx } from "./onnx.js";
import { createOnnxSession, loadOnnxRuntime, predictImagesOnnx } from "./onnx-runtime.js";

export type ScoreEngine = "tfjs" | "onnx";

export interface ImageScorer {
  engine: ScoreEngine;
  score(
    images: ImageSet,
    opts: { batchSize?: number; mcSamples?: number; seed?: number; embeddings?: boolean },
  ): Promise<Predictions>;
  release(): Promise<void>;
}

export async function createImageScorer(
  net: ClassifierNet,
  opts: { engine?: ScoreEngine; threads?: number; log?: (line: string) => void } = {},
): Promise<ImageScorer> {
  const engine = opts.engine ?? readMlEnv().XRAY_SCORE_ENGINE;
  // One inference plan per scorer (the version's weights do not change while it scores), as the
  // ONNX engine keeps one session.
  const tfjs = (): ImageScorer => {
    const plan = tryCompileFusedClassifier(net);
    return {
      engine: "tfjs",
      score: (images, o) => predictImages(net, images, { ...o, ...(plan ? { plan } : {}) }),
      release: async () => plan?.dispose(),
    };
  };
  if (engine === "tfjs") return tfjs();
  const loaded = await loadOnnxRuntime();
  if (!loaded.ort) {
    opts.log?.(`scoring: onnxruntime-node cannot load (${loaded.reason}); scoring with TF.js`);
    return tfjs();
  }
  const ort = loaded.ort;
  const session = await createOnnxSession(ort, exportClassifierToOnnx(net), {
    threads: opts.threads ?? readMlEnv().XRAY_TF_THREADS ?? os.availableParallelism(),
  });
  opts.log?.("scoring: onnxruntime-node on the version exported to ONNX");
  return {
    engine: "onnx",
    score: (images, o) =>
      predictImagesOnnx(ort, session, images, net.headKeys, {
        ...(o.batchSize ? { batchSize: o.batchSize } : {}),
        ...(o.embeddings ? { embeddings: true } : {}),
        ...(o.mcSamples
          ? { mc: { net, samples: o.mcSamples, ...(o.seed !== undefined ? { seed: o.seed } : {}) } }
          : {}),
      }),
    release: () => session.release(),
  };
}
