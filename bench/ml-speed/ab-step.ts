/**
 * A/B of one backend switch on the whole training step of the benchmark network, in ONE process:
 * steps alternate A, B, A, B, ... and each side reports its minimum and median wall and process-CPU
 * time, so both sides see the same machine load.
 *
 *   pnpm exec tsx bench/ml-speed/ab-step.ts --switch js-kernels|dw|dx|dx-form|bn|bn-simd|reduce-simd|adamw [--size 64] [--batch 16] [--steps 6] [--threads 1]
 *
 * --switch adamw: the product's AdamW as ~13 ops per variable ("ops") or one fused kernel per
 * variable ("fused"); needs OPT=adamw (the default; OPT=tfadam trains with tf.train.adam).
 * --switch bn-simd: FusedBatchNorm by the backend's scalar kernel ("builtin") or the SIMD loop of
 * batch-norm-simd.ts ("simd"; the same bits).
 * --switch mpg-simd: MaxPoolGrad by the JS loop ("js") or the SIMD loop of max-pool-grad-simd.ts
 * ("simd"; the same bits).
 * --switch reduce-simd: Sum / Mean over middle axes by the blocked JS loop ("js") or the SIMD loop
 * of reduce-simd.ts ("simd"; the same bits).
 */
import { parseArgs } from "node:util";
import { setBatchNormSimd } from "@xray/ml/backend/batch-norm-simd";
import {
  initBackend,
  setConv2DBackpropFilterVariant,
  setConv2DBackpropInputForm,
  setConv2DBackpropInputVariant,
  setFastBatchNormTraining,
  setPlainConvForLinearLayers,
  setWasmJsKernels,
} from "@xray/ml/backend/index";
import { setMaxPoolGradSimd } from "@xray/ml/backend/max-pool-grad-simd";
import { setReduceSimd } from "@xray/ml/backend/reduce-simd";
import { setFusedAdamW } from "@xray/ml/train/optimizer";
import { benchOptimizer, buildEncoder, fixedBatchTrainer } from "./encoder";

const { values } = parseArgs({
  options: {
    switch: { type: "string", default: "js-kernels" },
    size: { type: "string", default: "64" },
    batch: { type: "string", default: "16" },
    steps: { type: "string", default: "6" },
    threads: { type: "string" },
  },
});
const size = Number(values.size);
const batch = Number(values.batch);
const steps = Number(values.steps);
const threads = values.threads === undefined ? undefined : Number(values.threads);
const info = await initBackend({ prefer: "wasm", ...(threads === undefined ? {} : { threads }) });
const sides: Record<string, [string, () => void, string, () => void]> = {
  "js-kernels": ["off", () => setWasmJsKernels(false), "on", () => setWasmJsKernels(true)],
  dw: [
    "conv",
    () => setConv2DBackpropFilterVariant("conv"),
    "auto",
    () => setConv2DBackpropFilterVariant("auto"),
  ],
  dx: [
    "builtin",
    () => setConv2DBackpropInputVariant("builtin"),
    "fast",
    () => setConv2DBackpropInputVariant("fast"),
  ],
  adamw: ["ops", () => setFusedAdamW(false), "fused", () => setFusedAdamW(true)],
  "dx-form": [
    "conv",
    () => setConv2DBackpropInputForm("conv"),
    "auto",
    () => setConv2DBackpropInputForm("auto"),
  ],
  bn: ["layers", () => setFastBatchNormTraining(false), "closed", () => setFastBatchNormTraining(true)],
  "plain-conv": [
    "fused",
    () => setPlainConvForLinearLayers(false),
    "plain",
    () => setPlainConvForLinearLayers(true),
  ],
  "bn-simd": ["builtin", () => setBatchNormSimd(false), "simd", () => setBatchNormSimd(true)],
  "mpg-simd": ["js", () => setMaxPoolGradSimd(false), "simd", () => setMaxPoolGradSimd(true)],
  "reduce-simd": ["js", () => setReduceSimd(false), "simd", () => setReduceSimd(true)],
};
const side = sides[values.switch];
if (side === undefined) throw new Error(`unknown --switch ${values.switch}`);
const opt = benchOptimizer();
if (values.switch === "adamw" && opt !== "adamw") throw new Error("--switch adamw needs OPT=adamw");
const model = buildEncoder(size, [32, 64, 128, 256]);
const trainer = fixedBatchTrainer(model, size, batch, opt);
const step = trainer.step;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const times: Array<{ wall: number[]; cpu: number[] }> = [
  { wall: [], cpu: [] },
  { wall: [], cpu: [] },
];
for (let i = 0; i < 2 * (steps + 1); i++) {
  const k = i % 2;
  side[k === 0 ? 1 : 3]();
  const c0 = cpuMs();
  const w0 = performance.now();
  step();
  if (i >= 2) {
    times[k]?.wall.push(performance.now() - w0);
    times[k]?.cpu.push(cpuMs() - c0);
  }
}
const stat = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${(s[0] ?? 0).toFixed(1)} median ${(s[Math.floor(s.length / 2)] ?? 0).toFixed(1)}`;
};
console.log(
  `${info.detail}; ${size} px, batch ${batch}, ${steps} steps per side, --switch ${values.switch}, optimizer ${opt}`,
);
for (const k of [0, 1]) {
  const t = times[k];
  if (t === undefined) continue;
  console.log(`${String(side[2 * k]).padEnd(8)} wall ms ${stat(t.wall)} | cpu ms ${stat(t.cpu)}`);
}
process.exit(0);
