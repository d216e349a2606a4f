/**
 * A/B of Winograd F(2 x 2, 3 x 3) in the fused plan: the same compiled plan with the Winograd path
 * on and off, batches alternating in one process (this VM's speed drifts over minutes), median ms
 * per batch and the ratio.
 *
 *   pnpm exec tsx bench/scoring/ab-winograd.ts [--sizes 64,128] [--batch 64] [--threads 1] [--reps 15]
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { convWinogradRuns, setConvWinograd } from "../../packages/ml/src/backend/conv-simd.js";
import { initBackend } from "../../packages/ml/src/backend/index.js";
import { compileFusedClassifier } from "../../packages/ml/src/export/fused-inference.js";
import { buildClassifier } from "../../packages/ml/src/models/resnet.js";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "64,128" },
    batch: { type: "string", default: "64" },
    threads: { type: "string", default: "1" },
    reps: { type: "string", default: "15" },
  },
});
const batch = Number(values.batch);
const reps = Number(values.reps);
const backend = await initBackend({ prefer: "wasm", threads: Number(values.threads) });
console.log(`backend ${backend.detail}, batch ${batch}, ${reps} alternating repetitions`);
const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
for (const size of values.sizes.split(",").map(Number)) {
  const net = buildClassifier({
    encoder: { inputSize: size, width: 16, blocks: [1, 1, 1] },
    schema: { gate: { key: "abnormal", name: "Abnormal" }, findings: [] },
  });
  const plan = compileFusedClassifier(net);
  const x = tf.randomUniform([batch, size, size, 1]) as tf.Tensor4D;
  const time = (on: boolean) => {
    setConvWinograd(on);
    const t0 = performance.now();
    const { embedding, logits } = plan.run(x);
    logits.dataSync();
    const ms = performance.now() - t0;
    tf.dispose([embedding, logits]);
    return ms;
  };
  // Outputs agree (float rounding) and the Winograd path runs.
  const runs = convWinogradRuns();
  setConvWinograd(true);
  const a = plan.run(x);
  const layersOn = convWinogradRuns() - runs;
  setConvWinograd(false);
  const b = plan.run(x);
  const diff = tf.max(tf.abs(tf.sub(a.embedding, b.embedding))).dataSync()[0] ?? 0;
  tf.dispose([a.embedding, a.logits, b.embedding, b.logits]);
  for (let i = 0; i < 3; i++) time(i % 2 === 0);
  const on: number[] = [];
  const off: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < reps; r++) {
    const first = r % 2 === 0;
    const t1 = time(first);
    const t2 = time(!first);
    const [tOn, tOff] = first ? [t1, t2] : [t2, t1];
    on.push(tOn);
    off.push(tOff);
    ratios.push(tOff / tOn);
  }
  setConvWinograd(true);
  console.log(
    `${size} px: Winograd layers ${layersOn}, max |embedding difference| ${diff.toExponential(2)}; ` +
      `direct ${median(off).toFixed(1)} ms, Winograd ${median(on).toFixed(1)} ms per batch: ` +
      `speed-up ${(median(off) / median(on)).toFixed(2)}x (median of per-repetition ratios ${median(ratios).toFixed(2)}x)`,
  );
  x.dispose();
  plan.dispose();
  net.full.dispose();
}
