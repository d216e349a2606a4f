/**
 * Per-kernel A/B on the wasm backend (min of N wall times, robust to other processes' load):
 *   pnpm exec tsx bench/ml-speed/micro.ts [--batch 32] [--reps 7]
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, setConv2DBackpropInputVariant } from "@xray/ml/backend/index";

const { values } = parseArgs({
  options: { batch: { type: "string", default: "32" }, reps: { type: "string", default: "7" } },
});
const batch = Number(values.batch);
const reps = Number(values.reps);
const info = await initBackend({ prefer: "wasm" });
console.log(`backend: ${info.name} (${info.detail}), batch ${batch}, best of ${reps}`);

const cases: Array<[string, number, number, number, number, number]> = [
  // name, spatial, cin, cout, k, stride  (64 px input: stem 32x32, stage1 16x16, ...)
  ["stage1 3x3 s1", 16, 32, 32, 3, 1],
  ["stage2 3x3 s2", 16, 32, 64, 3, 2],
  ["stage2 3x3 s1", 8, 64, 64, 3, 1],
  ["stage3 3x3 s1", 4, 128, 128, 3, 1],
  ["stage4 3x3 s1", 2, 256, 256, 3, 1],
  ["down 1x1 s2", 16, 32, 64, 1, 2],
];
const rows: string[] = [];
for (const [name, s, cin, cout, k, stride] of cases) {
  const x = tf.randomNormal([batch, s, s, cin]) as tf.Tensor4D;
  const w = tf.randomNormal([k, k, cin, cout]) as tf.Tensor4D;
  const y = tf.conv2d(x, w, stride, "same");
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const attrs = { strides: [stride, stride], pad: "same", dataFormat: "NHWC" };
  const run = (kernel: string, inputs: tf.NamedTensorMap, extra: tf.NamedAttrMap) => () =>
    tf.tidy(() => {
      const out = tf.engine().runKernel(kernel, inputs, { ...attrs, ...extra });
      if (out instanceof tf.Tensor) out.dataSync();
    });
  const dInput = run(tf.Conv2DBackpropInput, { dy, filter: w }, { inputShape: x.shape });
  // Interleaved, best of N each: other processes' load hits all variants alike.
  const best = { fwd: Infinity, dxBuiltin: Infinity, dxFast: Infinity, dw: Infinity };
  const time = (f: () => void) => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  for (let rep = 0; rep <= reps; rep++) {
    const fwdMs = time(() => tf.tidy(() => tf.conv2d(x, w, stride, "same").dataSync()));
    setConv2DBackpropInputVariant("builtin");
    const builtinMs = time(dInput);
    setConv2DBackpropInputVariant("fast");
    const fastMs = time(dInput);
    const dwMs = time(run(tf.Conv2DBackpropFilter, { x, dy }, { filterShape: w.shape }));
    if (rep === 0) continue; // warm-up
    best.fwd = Math.min(best.fwd, fwdMs);
    best.dxBuiltin = Math.min(best.dxBuiltin, builtinMs);
    best.dxFast = Math.min(best.dxFast, fastMs);
    best.dw = Math.min(best.dw, dwMs);
  }
  const { fwd, dxBuiltin, dxFast, dw } = best;
  rows.push(
    `| ${name} | ${batch}x${s}x${s}x${cin}->${cout} | ${fwd.toFixed(1)} | ${dxBuiltin.toFixed(1)} | ${dxFast.toFixed(1)} | ${(dxBuiltin / dxFast).toFixed(1)}x | ${dw.toFixed(1)} |`,
  );
  tf.dispose([x, w, y, dy]);
}
console.log("| conv | shape | forward ms | dx builtin ms | dx ours ms | dx speed-up | dW ours ms |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
