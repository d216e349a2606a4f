/**
 * Times the product's training loop (`fitClassifier`: supervised, batch 32, EMA on, weak
 * augmentation) for a small encoder, optionally with a per-kernel profile. Synthetic pixels: this
 * measures speed only.
 *
 *   STEM=small|large SIZE=64 WIDTH=16 STEPS=10 [PROF=1] XRAY_TF_THREADS=1 \
 *     pnpm exec tsx bench/ml-speed/prof-step.ts
 *
 * AB=1: alternates the loop with this round's wasm speed-ups off (the fused AdamW, the closed-form
 * batch-norm layer, plain conv2d for linear conv layers, GEMM dx, the SIMD batch-norm, max-pool
 * gradient and reduction loops) and on, REPS times each (default 3), and prints both medians.
 */
import * as tf from "@tensorflow/tfjs-core";
import { weakAugment } from "../../packages/ml/src/augment/index.js";
import { setBatchNormSimd } from "../../packages/ml/src/backend/batch-norm-simd.js";
import {
  initBackend,
  setConv2DBackpropInputForm,
  setFastBatchNormTraining,
  setPlainConvForLinearLayers,
} from "../../packages/ml/src/backend/index.js";
import { setMaxPoolGradSimd } from "../../packages/ml/src/backend/max-pool-grad-simd.js";
import { setReduceSimd } from "../../packages/ml/src/backend/reduce-simd.js";
import { fitClassifier } from "../../packages/ml/src/fixmatch/trainer.js";
import { buildClassifier } from "../../packages/ml/src/models/resnet.js";
import { setFusedAdamW } from "../../packages/ml/src/train/optimizer.js";

const size = Number(process.env.SIZE ?? 64);
const width = Number(process.env.WIDTH ?? 16);
const steps = Number(process.env.STEPS ?? 10);
const stem = process.env.STEM === "small" || process.env.STEM === "large" ? process.env.STEM : "auto";
await initBackend({ prefer: "wasm" });
const n = 256;
const pixels = new Uint8Array(n * size * size);
for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) % 251;
const images = { count: n, size, pixels };
const labels = { heads: ["abnormal"], values: Float32Array.from({ length: n }, (_, i) => i % 2) };
const schema = { gate: { key: "abnormal", name: "Abnormal" }, findings: [] };
const net = buildClassifier({
  encoder: { inputSize: size, width, blocks: [1, 1, 1], stem },
  schema,
  dropout: 0.2,
});
const run = async (): Promise<void> => {
  await fitClassifier({
    config: {
      seed: 0,
      epochs: 1,
      stepsPerEpoch: steps,
      batchSize: 32,
      fixmatch: { enabled: false },
      ema: { enabled: true, decay: 0.99 },
    },
    net,
    labelled: { images, labels },
    augment: { weak: (x, r) => weakAugment(x, r), strong: (x, r) => weakAugment(x, r) },
  });
};
await run(); // warm-up: kernels compiled, weights allocated
if (process.env.AB) {
  const speedUps = (on: boolean): void => {
    setFusedAdamW(on);
    setFastBatchNormTraining(on);
    setPlainConvForLinearLayers(on);
    setConv2DBackpropInputForm(on ? "auto" : "conv");
    setBatchNormSimd(on);
    setMaxPoolGradSimd(on);
    setReduceSimd(on);
  };
  const reps = Number(process.env.REPS ?? 3);
  const secs: Record<"off" | "on", number[]> = { off: [], on: [] };
  for (let i = 0; i < 2 * reps; i++) {
    const side = i % 2 === 0 ? "off" : "on";
    speedUps(side === "on");
    const t0 = performance.now();
    await run();
    secs[side].push((performance.now() - t0) / 1000);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  for (const side of ["off", "on"] as const) {
    const m = median(secs[side]);
    console.log(
      `stem ${stem}, ${size} px, width ${width}, speed-ups ${side}: ${steps} steps in ${m.toFixed(2)} s (median of ${reps}: ${secs[side].map((x) => x.toFixed(2)).join(", ")}) = ${((steps * 32) / m).toFixed(1)} img/s`,
    );
  }
  process.exit(0);
}
const t = performance.now();
let kernels: Awaited<ReturnType<typeof tf.profile>>["kernels"] = [];
if (process.env.PROF) {
  const prof = await tf.profile(async () => {
    await run();
    return [];
  });
  kernels = prof.kernels;
} else {
  await run();
}
const dt = (performance.now() - t) / 1000;
console.log(
  `stem ${stem}, ${size} px, width ${width}: steps ${steps} in ${dt.toFixed(1)}s = ${((steps * 32) / dt).toFixed(1)} img/s`,
);
const byKernel = new Map<string, number>();
for (const k of kernels)
  byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (Number(await k.kernelTimeMs) || 0));
for (const [k, v] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 20))
  console.log(`${k} ${v.toFixed(0)} ms`);

// Threaded wasm: end explicitly all the same.
process.exit(0);
