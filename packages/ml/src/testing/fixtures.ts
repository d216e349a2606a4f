/** Test fixtures shared by the ML tests: seeded images and non-trivial batch-norm statistics. */
import * as tf from "@tensorflow/tfjs-core";
import type { ImageSet } from "../data/image-set.js";
import type { ClassifierNet } from "../models/resnet.js";

/** Deterministic pseudo-random numbers (no Math.random in tests). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function randomImages(count: number, size: number, seed: number): ImageSet {
  const r = lcg(seed);
  return {
    count,
    size,
    pixels: Uint8Array.from({ length: count * size * size }, () => Math.floor(r() * 256)),
  };
}

/** Non-trivial batchnorm statistics and head weights, so that folding is really exercised. */
export function perturbWeights(net: ClassifierNet, seed: number): void {
  const r = lcg(seed);
  for (const layer of net.full.layers) {
    if (layer.getClassName() !== "BatchNormalization" && layer.getClassName() !== "Dense") continue;
    const values = layer.getWeights().map((w, i) => {
      const name = layer.weights[i]?.originalName ?? "";
      const lo = name.endsWith("gamma") ? 0.5 : name.endsWith("moving_variance") ? 0.2 : -1;
      const span = name.endsWith("gamma") ? 1 : 2;
      const data = Float32Array.from({ length: w.size }, () => lo + span * r());
      return tf.tensor(data, w.shape);
    });
    layer.setWeights(values);
    for (const v of values) v.dispose();
  }
}
