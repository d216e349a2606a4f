/**
 * Per-kernel SELF time of one training step (forward + backward + optimizer: env OPT, see
 * encoder.ts; --fused-adamw off runs the product's AdamW as ops instead of its fused kernel) of the benchmark network
 * on the wasm backend. tf.profile counts a kernel that calls other kernels (our Conv2DBackpropInput
 * runs conv2d, slice, concat through the engine) twice; here every wasm kernel is wrapped with a
 * timer and a stack, so each millisecond is charged to exactly one kernel.
 * --mpg-simd off: MaxPoolGrad by the JS loop instead of the SIMD loop (max-pool-grad-simd.ts).
 *
 *   pnpm exec tsx bench/ml-speed/self-prof.ts --size 64 --batch 16 --steps 3 [--threads 1] [--by-shape] [--fused-adamw on|off] [--bn-simd on|off] [--reduce-simd on|off]
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { setBatchNormSimd } from "@xray/ml/backend/batch-norm-simd";
import { initBackend, setWasmJsKernels } from "@xray/ml/backend/index";
import { setMaxPoolGradSimd } from "@xray/ml/backend/max-pool-grad-simd";
import { setReduceSimd } from "@xray/ml/backend/reduce-simd";
import { setFusedAdamW } from "@xray/ml/train/optimizer";
import { buildEncoder, fixedBatchTrainer } from "./encoder";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "64" },
    batch: { type: "string", default: "16" },
    steps: { type: "string", default: "3" },
    threads: { type: "string" },
    widths: { type: "string", default: "32,64,128,256" },
    "by-shape": { type: "boolean", default: false },
    top: { type: "string", default: "25" },
    "js-kernels": { type: "string", default: "on" },
    "fused-adamw": { type: "string", default: "on" },
    "bn-simd": { type: "string", default: "on" },
    "mpg-simd": { type: "string", default: "on" },
    "reduce-simd": { type: "string", default: "on" },
  },
});
const size = Number(values.size);
const batch = Number(values.batch);
const steps = Number(values.steps);
const threads = values.threads === undefined ? undefined : Number(values.threads);
await initBackend({ prefer: "wasm", ...(threads === undefined ? {} : { threads }) });
setWasmJsKernels(values["js-kernels"] !== "off");
setFusedAdamW(values["fused-adamw"] !== "off");
setBatchNormSimd(values["bn-simd"] !== "off");
setMaxPoolGradSimd(values["mpg-simd"] !== "off");
setReduceSimd(values["reduce-simd"] !== "off");

const self = new Map<string, { ms: number; calls: number }>();
const stack: number[] = []; // time spent in children of each open kernel
let recording = false;
for (const config of tf.getKernelsForBackend("wasm")) {
  const inner = config.kernelFunc;
  const wrapped: tf.KernelFunc = (args) => {
    if (!recording) return inner(args);
    stack.push(0);
    const t0 = performance.now();
    const out = inner(args);
    const dt = performance.now() - t0;
    const children = stack.pop() ?? 0;
    if (stack.length > 0) stack[stack.length - 1] = (stack[stack.length - 1] ?? 0) + dt;
    const shapes = Object.values(args.inputs)
      .map((t) => (t === undefined ? "-" : t.shape.join("x")))
      .join(",");
    const key = values["by-shape"] ? `${config.kernelName} ${shapes}` : config.kernelName;
    const e = self.get(key) ?? { ms: 0, calls: 0 };
    e.ms += dt - children;
    e.calls += 1;
    self.set(key, e);
    return out;
  };
  tf.unregisterKernel(config.kernelName, "wasm");
  tf.registerKernel({ ...config, kernelFunc: wrapped });
}

const model = buildEncoder(size, values.widths.split(",").map(Number));
const trainer = fixedBatchTrainer(model, size, batch);
const step = trainer.step;
step();
step();
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
// Untimed-by-kernel steps first: wall and CPU time of the bare step (CPU time of the process is
// robust to other jobs' load for one thread; with worker threads it counts them too).
const c0 = cpuMs();
const w0 = performance.now();
for (let i = 0; i < steps; i++) step();
const bareWall = (performance.now() - w0) / steps;
const bareCpu = (cpuMs() - c0) / steps;
recording = true;
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const wall = (performance.now() - t0) / steps;
recording = false;
console.log(`bare step: wall ${bareWall.toFixed(1)} ms, process CPU ${bareCpu.toFixed(1)} ms`);
const rows = [...self.entries()].map(([k, v]) => ({ k, ms: v.ms / steps, calls: v.calls / steps }));
const kernelMs = rows.reduce((a, r) => a + r.ms, 0);
console.log(
  `${size} px, batch ${batch}: step ${wall.toFixed(1)} ms (${((batch * 1000) / wall).toFixed(1)} img/s), kernels ${kernelMs.toFixed(1)} ms, outside kernels ${(wall - kernelMs).toFixed(1)} ms`,
);
for (const r of rows.sort((a, b) => b.ms - a.ms).slice(0, Number(values.top))) {
  console.log(
    `${r.k.padEnd(values["by-shape"] ? 70 : 26)} ${r.ms.toFixed(1).padStart(7)} ms ${((100 * r.ms) / wall).toFixed(1).padStart(5)}%  ${r.calls} calls`,
  );
}
// The threaded wasm build keeps its worker pool alive; end the process explicitly.
process.exit(0);
