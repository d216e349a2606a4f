/**
 * tf.mean over the middle axes of [N, H, W, C] maps alone (batch-norm statistics over N, H, W;
 * global average pooling over H, W), the shapes of the benchmark network's training step: the
 * blocked JS loop ("js") and the SIMD loop of reduce-simd.ts ("simd"; the same bits), alternating
 * in one process; wall time per call and ns per element. The wasm backend's own kernel (transpose
 * + reduce) is "builtin" (setWasmJsKernels(false)).
 *
 *   pnpm exec tsx bench/ml-speed/micro-reduce.ts [--reps 20] [--threads 1]
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, setWasmJsKernels } from "@xray/ml/backend/index";
import { setReduceSimd } from "@xray/ml/backend/reduce-simd";

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "20" },
    threads: { type: "string" },
  },
});
const reps = Number(values.reps);
const threads = values.threads === undefined ? undefined : Number(values.threads);
const info = await initBackend({ prefer: "wasm", ...(threads === undefined ? {} : { threads }) });
console.log(`${info.detail}; ${reps} calls per side per round, 2 rounds`);

const cases: Array<[number[], number[]]> = [
  [
    [16, 128, 128, 32],
    [0, 1, 2],
  ],
  [
    [16, 64, 64, 32],
    [0, 1, 2],
  ],
  [
    [16, 32, 32, 32],
    [0, 1, 2],
  ],
  [
    [16, 16, 16, 64],
    [0, 1, 2],
  ],
  [
    [16, 8, 8, 128],
    [0, 1, 2],
  ],
  [
    [16, 8, 8, 256],
    [1, 2],
  ],
];
const sides: Array<[string, () => void]> = [
  ["builtin", () => setWasmJsKernels(false)],
  [
    "js",
    () => {
      setWasmJsKernels(true);
      setReduceSimd(false);
    },
  ],
  [
    "simd",
    () => {
      setWasmJsKernels(true);
      setReduceSimd(true);
    },
  ],
];
for (const [shape, axes] of cases) {
  const x = tf.randomNormal(shape, 0.5, 1, "float32", 1);
  const n = tf.util.sizeFromShape(shape);
  const best = new Map<string, number>();
  for (let round = 0; round < 2; round++) {
    for (const [name, setup] of sides) {
      setup();
      for (let k = 0; k < 3; k++) tf.mean(x, axes).dispose();
      const t0 = performance.now();
      for (let k = 0; k < reps; k++) tf.mean(x, axes).dispose();
      const ms = (performance.now() - t0) / reps;
      best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, ms));
    }
  }
  const line = [...best].map(
    ([name, ms]) => `${name} ${ms.toFixed(3)} ms (${((ms * 1e6) / n).toFixed(2)} ns/el)`,
  );
  console.log(`${shape.join("x")} over ${axes.join(",")}: ${line.join(" | ")}`);
  x.dispose();
}
setWasmJsKernels(true);
setReduceSimd(true);
