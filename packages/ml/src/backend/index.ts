import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";
// tfjs-core alone registers no gradients (its ESM register_all_gradients cannot load under Node);
// the union package's Node bundle registers all of them against the same tfjs-core.
import "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import { getThreadsCount, setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import { readMlEnv } from "../env";
import { setFastBatchNormTraining } from "./batch-norm";
import { setPlainConvForLinearLayers } from "./conv-layer";
import { enableRelaxedSimd } from "./conv-simd";
import { registerWasmTrainingKernels } from "./wasm-kernels";
import { enableWasmThreadsInNode, unrefWasmWorkers, withLogicalCoresForWasm } from "./wasm-threads";

export type BackendName = "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu";

export interface BackendInfo {
  name: BackendName;
  detail: string;
}

export interface InitBackendOptions {
  /** Backend to use; "auto" (default) tries tfjs-node-gpu, tfjs-node, wasm, cpu in that order. */
  prefer?: BackendName | "auto";
  /** wasm thread count; default: XRAY_TF_THREADS, else defaultWasmThreads(). */
  threads?: number;
  /** Where the one start-up line goes; default: stderr. */
  log?: (msg: string) => void;
}

/** Fallback order when nothing is forced. */
export const BACKEND_ORDER: readonly BackendName[] = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"];

const NATIVE_PACKAGE: Record<"tensorflow-gpu" | "tensorflow", string> = {
  "tensorflow-gpu": "@tensorflow/tfjs-node-gpu",
  tensorflow: "@tensorflow/tfjs-node",
};

let chosen: Promise<BackendInfo> | null = null;
let threadNote: string | null = null;
/** Whether the wasm engine compiles relaxed SIMD (the inference convolution loop's fused multiply-add). */
let relaxedSimd = false;

/**
 * Chooses and activates the TF.js backend once per process. Later calls return the first
 * result whatever options they pass, so every helper can call it before training.
 */
export function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  if (chosen === null) {
    chosen = chooseBackend(opts).catch((err: unknown) => {
      chosen = null;
      throw err;
    });
  }
  return chosen;
}

async function chooseBackend(opts: InitBackendOptions): Promise<BackendInfo> {
  const env = readMlEnv();
  const log = opts.log ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  const prefer = env.XRAY_TF_BACKEND !== "auto" ? env.XRAY_TF_BACKEND : (opts.prefer ?? "auto");
  const threads = opts.threads ?? env.XRAY_TF_THREADS ?? defaultWasmThreads();
  const candidates = prefer === "auto" ? BACKEND_ORDER : [prefer];
  const skipped: string[] = [];
  for (const name of candidates) {
    const reason = await tryActivate(name, threads, log);
    if (reason === null) {
      // Closed-form batch-norm gradient for tfjs-layers' BatchNormalization in training (any backend).
      setFastBatchNormTraining(true);
      // Lazy conv gradients: no input gradient for the stem (the image) in training.
      setPlainConvForLinearLayers(true);
      const detail = describe(name, skipped);
      log(`[xray/ml] TF.js backend: ${name} (${detail})`);
      return { name, detail };
    }
    skipped.push(`${name}: ${reason}`);
  }
  throw new Error(`No TF.js backend could start (${skipped.join("; ")})`);
}

/**
 * Default wasm thread count: every core, at most 8. XNNPACK runs each convolution on the thread
 * pool; on this project's 2-core machine two threads train the benchmark ResNet 1.5x faster and
 * infer 1.5x faster than one (docs/benchmarks.md, "ML speed"). XRAY_TF_THREADS=1 turns threads off
 * (the test runner does: its files already run in parallel); once, on a machine loaded ~10x over
 * its 2 cores, the threaded start-up waited a long time for Emscripten's worker pool.
 */
export function defaultWasmThreads(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

/** Returns null on success, else why the backend is unavailable. */
async function tryActivate(
  name: BackendName,
  threads: number,
  log: (msg: string) => void,
): Promise<string | null> {
  try {
    if (name === "tensorflow-gpu" || name === "tensorflow") {
      // Optional native packages: absent or without libtensorflow they throw here, and we fall through.
      const specifier = NATIVE_PACKAGE[name];
      const missing = nativeBindingMissing(specifier);
      if (missing !== null) return missing;
      await import(/* @vite-ignore */ specifier);
      if (tf.findBackendFactory("tensorflow") === undefined)
        return "package loaded but registered no backend";
      const ok = await tf.setBackend("tensorflow");
      return ok ? null : "setBackend failed";
    }
    if (name === "wasm") {
      const require = createRequire(import.meta.url);
      const distDir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
      setWasmPaths(`${distDir}${path.sep}`);
      setThreadsCount(threads);
      threadNote = threads > 1 ? enableWasmThreadsInNode() : "1 thread requested";
      registerWasmTrainingKernels();
      relaxedSimd = enableRelaxedSimd((flags) => v8.setFlagsFromString(flags));
      // A threaded start waits for Emscripten's worker pool; say so if that takes long.
      const watchdog =
        threads > 1
          ? setTimeout(
              () =>
                log(
                  `[xray/ml] wasm with ${threads} threads still starting after 30 s (XRAY_TF_THREADS=1 starts without a worker pool)`,
                ),
              30_000,
            )
          : undefined;
      watchdog?.unref();
      let ok: boolean;
      try {
        ok = await withLogicalCoresForWasm(threads, () => tf.setBackend("wasm"));
      } finally {
        clearTimeout(watchdog);
      }
      // The pool's workers must not keep a finished script alive.
      if (ok && threads > 1) unrefWasmWorkers(tf.backend());
      return ok ? null : "setBackend failed";
    }
    const ok = await tf.setBackend("cpu");
    return ok ? null : "setBackend failed";
  } catch (err) {
    return err instanceof Error ? firstLine(err.message) : String(err);
  }
}

/**
 * tfjs-node keeps its addon under lib/ (written by its install script when libtensorflow could be
 * fetched). Without it the import can only fail, after registering ~300 kernels noisily; skip early.
 */
function nativeBindingMissing(specifier: string): string | null {
  let pkgJson: string;
  try {
    pkgJson = createRequire(import.meta.url).resolve(`${specifier}/package.json`);
  } catch {
    return "package not installed";
  }
  const lib = path.join(path.dirname(pkgJson), "lib");
  return existsSync(lib) ? null : `no native addon (${lib} missing: libtensorflow was not installed)`;
}

function describe(name: BackendName, skipped: string[]): string {
  const parts: string[] = [];
  if (name === "wasm") {
    const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT");
    parts.push(`simd=${simd}`, `relaxed-simd=${relaxedSimd}`, `threads=${getThreadsCount()}`);
    if (threadNote !== null) parts.push(`single-threaded: ${threadNote}`);
  }
  if (skipped.length > 0) parts.push(`skipped ${skipped.join("; ")}`);
  return parts.join(", ");
}

function firstLine(s: string): string {
  const line = s.split("\n", 1)[0] ?? s;
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

export { batchNormTraining, setFastBatchNormTraining } from "./batch-norm";
export { setPlainConvForLinearLayers } from "./conv-layer";
export { setWasmJsKernels } from "./wasm-js-kernels";
export {
  type Conv2DBackpropFilterVariant,
  type Conv2DBackpropInputVariant,
  conv2dBackpropFilterViaConv,
  conv2dBackpropFilterViaGemm,
  conv2dBackpropInputViaConv,
  registerWasmTrainingKernels,
  setConv2DBackpropFilterVariant,
  setConv2DBackpropInputForm,
  setConv2DBackpropInputVariant,
} from "./wasm-kernels";
