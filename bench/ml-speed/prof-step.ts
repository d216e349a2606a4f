/**
 * Times the product's training loop (`fitClassifier`: supervised, batch 32, EMA on, weak
 * augmentation) for a small encoder, optionally with a per-kernel profile. Synthetic pixels: this
 * measures speed only.
 *
 *   STEM=small|large SIZE=64 WIDTH=16 STEPS=10 [PROF=1] XRAY_TF_THREADS=1 \
 *     pnpm exec tsx bench/ml-speed/prof-step.ts
 */
import * as tf from "@tensorflow/tfjs-core";
import { weakAugment } from "../../packages/ml/src/augment/index.js";
import { initBackend } from "../../packages/ml/src/backend/index.js";
import { fitClassifier } from "../../packages/ml/src/fixmatch/trainer.js";
import { buildClassifier } from "../../packages/ml/src/models/resnet.js";

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
