/**
 * tf.batchNorm alone (FusedBatchNorm, per-channel statistics, offset and scale) on one activation
 * map: the wasm backend's own scalar kernel ("builtin") and the SIMD loop of batch-norm-simd.ts
 * ("simd"), alternating in one process; wall time per call and ns per element.
 *
 *   pnpm exec tsx bench/ml-speed/micro-bn.ts [--shape 16,64,64,64] [--reps 20] [--threads 1]
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { setBatchNormSimd } from "@xray/ml/backend/batch-norm-simd";
import { initBackend } from "@xray/ml/backend/index";

const { values } = parseArgs({
  options: {
    shape: { type: "string", default: "16,64,64,64" },
    reps: { type: "string", default: "20" },
    threads: { type: "string" },
  },
});
const [n = 16, h = 64, w = 64, c = 64] = (values.shape ?? "").split(",").map(Number);
const reps = Number(values.reps);
const threads = values.threads === undefined ? undefined : Number(values.threads);
const info = await initBackend({ prefer: "wasm", ...(threads === undefined ? {} : { threads }) });
const x = tf.randomNormal([n, h, w, c], 0.5, 1, "float32", 1) as tf.Tensor4D;
const mean = tf.randomNormal([c], 0.5, 0.2, "float32", 2) as tf.Tensor1D;
const variance = tf.randomUniform([c], 0.5, 1.5, "float32", 3) as tf.Tensor1D;
const offset = tf.randomNormal([c], 0, 0.1, "float32", 4) as tf.Tensor1D;
const scale = tf.randomNormal([c], 1, 0.1, "float32", 5) as tf.Tensor1D;
const sides = ["builtin", "simd"] as const;
const times: Record<string, number[]> = { builtin: [], simd: [] };
for (let i = 0; i < 2 * (reps + 1); i++) {
  const side = sides[i % 2] ?? "builtin";
  setBatchNormSimd(side === "simd");
  const w0 = performance.now();
  const y = tf.batchNorm4d(x, mean, variance, offset, scale, 1e-3);
  const dt = performance.now() - w0;
  y.dispose();
  if (i >= 2) times[side]?.push(dt);
}
const elements = n * h * w * c;
console.log(`${info.detail}; [${n}, ${h}, ${w}, ${c}] (${elements} elements), ${reps} calls per side`);
for (const side of sides) {
  const s = [...(times[side] ?? [])].sort((a, b) => a - b);
  const min = s[0] ?? 0;
  const med = s[Math.floor(s.length / 2)] ?? 0;
  const ns = (ms: number) => ((ms * 1e6) / elements).toFixed(2);
  console.log(
    `${side.padEnd(8)} wall ms min ${min.toFixed(2)} median ${med.toFixed(2)} | ns/element min ${ns(min)} median ${ns(med)}`,
  );
}
process.exit(0);
