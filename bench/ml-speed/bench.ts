/**
 * Speed of the wasm training path: a half-width ResNet-18-style grayscale encoder built with
 * tfjs-layers, timed for training (forward + backward + optimizer: env OPT=adamw, the default, the
 * product's AdamW; OPT=tfadam tf.train.adam) and inference in images/s.
 * The same network in PyTorch is bench/ml-speed/torch_bench.py; run.sh runs both and compares.
 *
 *   pnpm exec tsx bench/ml-speed/bench.ts --sizes 64,128 --batch 32 --steps 4 --warmup 2 \
 *     [--variant fast|builtin] [--threads N] [--profile] [--js-kernels on|off] [--dw auto|gemm|conv]
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import {
  initBackend,
  setConv2DBackpropFilterVariant,
  setConv2DBackpropInputVariant,
  setWasmJsKernels,
} from "@xray/ml/backend/index";
import { benchOptimizer, buildEncoder, fixedBatchTrainer } from "./encoder";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "64,128" },
    batch: { type: "string", default: "32" },
    steps: { type: "string", default: "4" },
    warmup: { type: "string", default: "2" },
    variant: { type: "string", default: "fast" },
    threads: { type: "string" },
    widths: { type: "string", default: "32,64,128,256" },
    profile: { type: "boolean", default: false },
    mode: { type: "string", default: "train,infer" },
    "js-kernels": { type: "string", default: "on" },
    dw: { type: "string", default: "default" },
  },
});

const sizes = values.sizes.split(",").map(Number);
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const widths = values.widths.split(",").map(Number);
const modes = new Set(values.mode.split(","));
const variant = values.variant === "builtin" ? "builtin" : "fast";

interface Result {
  impl: string;
  variant: string;
  size: number;
  batch: number;
  optimizer: string;
  train_img_s?: number;
  infer_img_s?: number;
  threads: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  const info = await initBackend({ prefer: "wasm", ...(threads === undefined ? {} : { threads }) });
  setConv2DBackpropInputVariant(variant);
  setWasmJsKernels(values["js-kernels"] !== "off");
  const dw = values.dw;
  if (dw === "auto" || dw === "gemm" || dw === "conv") setConv2DBackpropFilterVariant(dw);
  const threadMatch = /threads=(\d+)/.exec(info.detail);
  const threadCount = Number(threadMatch?.[1] ?? 1);
  for (const size of sizes) {
    const model = buildEncoder(size, widths);
    const trainer = fixedBatchTrainer(model, size, batch);
    const xs = trainer.xs;
    const result: Result = {
      impl: "tfjs-wasm",
      variant,
      size,
      batch,
      optimizer: benchOptimizer(),
      threads: threadCount,
    };
    if (modes.has("train")) {
      const step = trainer.step;
      for (let i = 0; i < warmup; i++) step();
      const before = tf.memory().numTensors;
      const times: number[] = [];
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        step();
        times.push(performance.now() - t0);
      }
      if (tf.memory().numTensors !== before) throw new Error("training step leaked tensors");
      result.train_img_s = (batch * 1000) / median(times);
      if (values.profile) {
        const prof = await tf.profile(() => {
          step();
        });
        const byKernel = new Map<string, number>();
        for (const k of prof.kernels) {
          const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
          byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + ms);
        }
        const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
        const top = [...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
        process.stderr.write(`profile ${size}px ${variant}: total kernel time ${total.toFixed(0)} ms\n`);
        for (const [name, ms] of top) {
          process.stderr.write(
            `  ${name.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms ${((100 * ms) / total).toFixed(1)}%\n`,
          );
        }
      }
    }
    if (modes.has("infer")) {
      const infer = () =>
        tf.tidy(() => {
          const out = model.apply(xs, { training: false });
          if (!(out instanceof tf.Tensor)) throw new Error("one output expected");
          return out.dataSync().length;
        });
      for (let i = 0; i < warmup; i++) infer();
      const times: number[] = [];
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        infer();
        times.push(performance.now() - t0);
      }
      result.infer_img_s = (batch * 1000) / median(times);
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
    trainer.dispose();
    model.dispose();
  }
}

await main();

// The threaded wasm build keeps its worker pool alive; end the process explicitly.
process.exit(0);
