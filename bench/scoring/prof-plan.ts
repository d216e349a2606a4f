/**
 * Where a scoring batch goes on the wasm backend: the fused inference plan beside the tfjs-layers
 * model (alternating, median ms per batch), then tf.profile of one plan batch by kernel and shape.
 *
 *   pnpm exec tsx bench/scoring/prof-plan.ts [--size 64] [--batch 64] [--threads 2] [--helpers off] [--loop off]
 *
 * --helpers off: the convolution loop runs on the calling thread only; --loop off: XNNPACK only.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { setConvSimd, setConvSimdHelpers } from "../../packages/ml/src/backend/conv-simd.js";
import { initBackend } from "../../packages/ml/src/backend/index.js";
import { compileFusedClassifier } from "../../packages/ml/src/export/fused-inference.js";
import { buildClassifier } from "../../packages/ml/src/models/resnet.js";
import { embed, normalizeImages } from "../../packages/ml/src/ssl/pretrain.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "64" },
    batch: { type: "string", default: "64" },
    threads: { type: "string" },
    helpers: { type: "string", default: "on" },
    loop: { type: "string", default: "on" },
  },
});
const size = Number(values.size);
const batch = Number(values.batch);
await initBackend({ prefer: "wasm", threads: Number(values.threads ?? os.availableParallelism()) });
const net = buildClassifier({
  encoder: { inputSize: size, width: 16, blocks: [1, 1, 1] },
  schema: { gate: { key: "abnormal", name: "Abnormal" }, findings: [] },
});
const x = tf.randomUniform([batch, size, size, 1]) as tf.Tensor4D;
setConvSimdHelpers(values.helpers !== "off");
setConvSimd(values.loop !== "off");
const plan = compileFusedClassifier(net);
const layers = () =>
  tf.tidy(() => embed(net.encoder, normalizeImages(x, net.config.normalization), false)).dataSync();
const fused = () => {
  const r = plan.run(x);
  r.embedding.dataSync();
  tf.dispose([r.embedding, r.logits]);
};
const times: Record<string, number[]> = { fused: [], layers: [] };
for (let i = 0; i < 14; i++) {
  const [name, f] = i % 2 === 0 ? (["fused", fused] as const) : (["layers", layers] as const);
  const t0 = performance.now();
  f();
  if (i >= 2) times[name]?.push(performance.now() - t0);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log(
  `${size} px, batch ${batch}: fused plan ${median(times.fused ?? []).toFixed(1)} ms, layers model ${median(times.layers ?? []).toFixed(1)} ms (median of 6)`,
);
const prof = await tf.profile(() => fused());
const byKey = new Map<string, number>();
let total = 0;
for (const k of prof.kernels) {
  // tf.fused.conv2d shows twice (the op wrapper and its kernel); count the kernel only.
  if (k.name.endsWith("__op")) continue;
  const key = `${k.name} ${JSON.stringify(k.inputShapes[0] ?? [])} -> ${JSON.stringify(k.outputShapes)}`;
  const ms = Number(k.kernelTimeMs);
  byKey.set(key, (byKey.get(key) ?? 0) + ms);
  total += ms;
}
console.log(`profiled batch: kernels ${total.toFixed(1)} ms`);
for (const [k, ms] of [...byKey].sort((a, b) => b[1] - a[1]).slice(0, 12))
  console.log(`${ms.toFixed(2).padStart(8)} ms  ${k}`);
process.exit(0);
