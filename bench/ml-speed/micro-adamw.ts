/**
 * The product's AdamW update alone on the benchmark network's variables (half-width ResNet-18,
 * 64 px input; the variables do not depend on the input size): the op sequence ("ops"), the fused
 * kernel's WebAssembly SIMD loop ("fused") and its JS loop ("fused-js"), in turn in one process,
 * wall and process-CPU time per apply().
 *
 *   pnpm exec tsx bench/ml-speed/micro-adamw.ts [--reps 20] [--threads 1]
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "@xray/ml/backend/index";
import { setAdamWSimd } from "@xray/ml/backend/wasm-js-kernels";
import { AdamW, setFusedAdamW } from "@xray/ml/train/optimizer";
import { trainableVariables } from "@xray/ml/train/weights";
import { buildEncoder } from "./encoder";

const { values } = parseArgs({
  options: { reps: { type: "string", default: "20" }, threads: { type: "string" } },
});
const reps = Number(values.reps);
const threads = values.threads === undefined ? undefined : Number(values.threads);
const info = await initBackend({ prefer: "wasm", ...(threads === undefined ? {} : { threads }) });
const model = buildEncoder(64, [32, 64, 128, 256]);
const vars = trainableVariables(model);
const grads = vars.map((v) => tf.randomNormal(v.shape, 0, 1e-2));
const opt = new AdamW(vars, { weightDecay: 5e-4 });
const params = vars.reduce((s, v) => s + v.size, 0);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const sides = ["ops", "fused", "fused-js"] as const;
const times: Record<string, { wall: number[]; cpu: number[] }> = {
  ops: { wall: [], cpu: [] },
  fused: { wall: [], cpu: [] },
  "fused-js": { wall: [], cpu: [] },
};
for (let i = 0; i < 3 * (reps + 1); i++) {
  const side = sides[i % 3] ?? "ops";
  setFusedAdamW(side !== "ops");
  setAdamWSimd(side === "fused");
  const c0 = cpuMs();
  const w0 = performance.now();
  opt.apply(grads, 1e-3);
  // Wait for the data: wasm kernels run synchronously, this only makes sure.
  vars[0]?.dataSync();
  if (i >= 3) {
    times[side]?.wall.push(performance.now() - w0);
    times[side]?.cpu.push(cpuMs() - c0);
  }
}
const stat = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${(s[0] ?? 0).toFixed(2)} median ${(s[Math.floor(s.length / 2)] ?? 0).toFixed(2)}`;
};
console.log(`${info.detail}; ${vars.length} variables, ${params} parameters, ${reps} applies per side`);
for (const side of sides) {
  const t = times[side];
  if (t) console.log(`${side.padEnd(8)} wall ms ${stat(t.wall)} | cpu ms ${stat(t.cpu)}`);
}
process.exit(0);
