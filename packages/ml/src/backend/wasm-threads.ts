import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";

/**
 * tfjs-backend-wasm 4.22 refuses threads under Node (WASM_HAS_MULTITHREAD_SUPPORT is hard-wired to
 * false, tensorflow/tfjs#3830) because it hands Emscripten's pthread pool blob: URLs, which
 * worker_threads cannot start. Emscripten's worker script itself supports Node. So we write the
 * worker script and the module factory to real files, let the worker resolve its "blob" to the
 * factory file, and map the one blob the main thread creates for the worker to the worker file.
 *
 * Returns null when threads are enabled, else the reason they are not.
 */
export function enableWasmThreadsInNode(): string | null {
  if (typeof SharedArrayBuffer === "undefined") return "no SharedArrayBuffer";
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
  const outDir = path.join(pkgDir, "wasm-out");
  const workerModule: unknown = require(path.join(outDir, "tfjs-backend-wasm-threaded-simd.worker.js"));
  const factory: unknown = require(path.join(outDir, "tfjs-backend-wasm-threaded-simd.js"));
  if (typeof factory !== "function") return "threaded wasm factory not found";
  if (
    typeof workerModule !== "object" ||
    workerModule === null ||
    !("wasmWorkerContents" in workerModule) ||
    typeof workerModule.wasmWorkerContents !== "string"
  ) {
    return "threaded wasm worker script not found";
  }
  // Exactly what tfjs puts in the worker blob (it escapes newlines inside string literals).
  const workerContents = workerModule.wasmWorkerContents.replace(/\n/g, "\\n");
  const mainScript = `var WasmBackendModuleThreadedSimd = ${factory.toString()};\n`;
  const tag = createHash("sha256").update(workerContents).update(mainScript).digest("hex").slice(0, 16);
  const dir = path.join(os.tmpdir(), `xray-tfjs-wasm-threads-${tag}`);
  const mainPath = path.join(dir, "factory.js");
  const workerPath = path.join(dir, "worker.js");
  mkdirSync(dir, { recursive: true });
  writeIfChanged(mainPath, mainScript);
  writeIfChanged(
    workerPath,
    `URL.createObjectURL=function(){return ${JSON.stringify(mainPath)}};URL.revokeObjectURL=function(){};\n${workerContents}`,
  );

  const workerBlobSize = Buffer.byteLength(workerContents, "utf8");
  const original = URL.createObjectURL.bind(URL);
  const patched = (obj: Blob | MediaSource): string => {
    if (obj instanceof Blob && obj.type === "application/javascript" && obj.size === workerBlobSize) {
      return workerPath;
    }
    return original(obj);
  };
  if (!patchedOnce) {
    URL.createObjectURL = patched;
    patchedOnce = true;
  }
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  return null;
}

let patchedOnce = false;

/**
 * tfjs-backend-wasm caps its XNNPACK pool at emscripten_num_logical_cores() / 2 (it assumes two
 * hyper-threads per core), which Emscripten reads from os.cpus() under Node, so a 2-vCPU machine
 * gets one thread. The cap is computed once, while the module instantiates; for that moment only
 * we report 2 * threads logical cores, then restore os.cpus.
 */
export async function withLogicalCoresForWasm<T>(threads: number, start: () => Promise<T>): Promise<T> {
  const realCpus = os.cpus;
  const cpus = realCpus();
  const first = cpus[0];
  if (first === undefined) return start();
  os.cpus = () => Array.from({ length: Math.max(cpus.length, 2 * threads) }, (_, i) => cpus[i] ?? first);
  try {
    return await start();
  } finally {
    os.cpus = realCpus;
  }
}

function writeIfChanged(file: string, contents: string): void {
  try {
    if (readFileSync(file, "utf8") === contents) return;
  } catch {
    // absent: write it
  }
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  // rename is atomic, so concurrent processes never read half a file
  renameSync(tmp, file);
}

/**
 * Emscripten's pthread pool keeps a reference on each running worker, so a Node script that used
 * threaded wasm never exits by itself. Unreferenced workers still run; the process just does not
 * wait for them. Returns how many workers were released.
 */
export function unrefWasmWorkers(backend: unknown): number {
  if (typeof backend !== "object" || backend === null || !("wasm" in backend)) return 0;
  const module: unknown = backend.wasm;
  if (typeof module !== "object" || module === null || !("PThread" in module)) return 0;
  const pthread: unknown = module.PThread;
  if (typeof pthread !== "object" || pthread === null) return 0;
  let released = 0;
  for (const key of ["runningWorkers", "unusedWorkers"]) {
    const list: unknown = key in pthread ? Reflect.get(pthread, key) : undefined;
    if (!Array.isArray(list)) continue;
    for (const w of list) {
      if (typeof w === "object" && w !== null && "unref" in w && typeof w.unref === "function") {
        w.unref();
        released++;
      }
    }
  }
  return released;
}
