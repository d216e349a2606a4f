/**
 * dW (Conv2DBackpropFilter) per layer of the benchmark network: the conv formulation vs the
 * im2col + GEMM one (best of N, interleaved), and their largest difference.
 *   pnpm exec tsx bench/ml-speed/micro-dw.ts [--size 64] [--batch 16] [--reps 5] [--threads 1]
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import {
  conv2dBackpropFilterViaConv,
  conv2dBackpropFilterViaGemm,
  initBackend,
} from "@xray/ml/backend/index";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "64" },
    batch: { type: "string", default: "16" },
    reps: { type: "string", default: "5" },
    threads: { type: "string" },
  },
});
const size = Number(values.size);
const batch = Number(values.batch);
const reps = Number(values.reps);
const threads = values.threads === undefined ? undefined : Number(values.threads);
const info = await initBackend({ prefer: "wasm", ...(threads === undefined ? {} : { threads }) });
console.log(`backend: ${info.name} (${info.detail}), ${size} px, batch ${batch}, best of ${reps}`);
// name, input spatial, cin, cout, k, stride (the half-width ResNet-18 of bench.ts)
const s0 = size / 4;
const cases: Array<[string, number, number, number, number, number]> = [
  ["stem 7x7/2", size, 1, 32, 7, 2],
  ["stage1 3x3", s0, 32, 32, 3, 1],
  ["stage2 3x3/2", s0, 32, 64, 3, 2],
  ["stage2 3x3", s0 / 2, 64, 64, 3, 1],
  ["stage2 1x1/2", s0, 32, 64, 1, 2],
  ["stage3 3x3", s0 / 4, 128, 128, 3, 1],
  ["stage4 3x3", s0 / 8, 256, 256, 3, 1],
];
console.log("| layer | x | conv ms | gemm ms | speed-up | max abs diff |");
console.log("|---|---|---|---|---|---|");
for (const [name, s, cin, cout, k, stride] of cases) {
  const x = tf.randomNormal([batch, s, s, cin]) as tf.Tensor4D;
  const ho = Math.ceil(s / stride);
  const dy = tf.randomNormal([batch, ho, ho, cout]) as tf.Tensor4D;
  const shape: [number, number, number, number] = [k, k, cin, cout];
  const time = (f: () => tf.Tensor) => {
    const t0 = performance.now();
    tf.tidy(() => f().dataSync());
    return performance.now() - t0;
  };
  const conv = () => conv2dBackpropFilterViaConv(x, dy, shape, [stride, stride], "same");
  const gemm = () => conv2dBackpropFilterViaGemm(x, dy, shape, [stride, stride], "same");
  let bc = Infinity;
  let bg = Infinity;
  for (let r = 0; r <= reps; r++) {
    const c = time(conv);
    const g = time(gemm);
    if (r === 0) continue;
    bc = Math.min(bc, c);
    bg = Math.min(bg, g);
  }
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(conv(), gemm()))).dataSync()[0] ?? Number.NaN);
  console.log(
    `| ${name} | ${batch}x${s}x${s}x${cin} | ${bc.toFixed(2)} | ${bg.toFixed(2)} | ${(bc / bg).toFixed(2)}x | ${diff.toExponential(1)} |`,
  );
  tf.dispose([x, dy]);
}
process.exit(0);
