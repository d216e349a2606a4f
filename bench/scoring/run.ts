/**
 * Pool scoring throughput: the TF.js wasm backend (what trainer/src/pipeline/score.ts runs) beside
 * onnxruntime-node running the same network, exported by packages/ml/src/export/onnx.ts.
 *
 *   pnpm exec tsx bench/scoring/run.ts --sizes 64,128 --images 512 --batch 64 --reps 3 [--threads 2] [--baselines off]
 *
 * Both engines score the same decoded knee radiographs (val split of knee-oa-128, resized with sharp)
 * with probabilities + embeddings (as the worker asks), batch 64. TF.js runs twice: the fused
 * inference plan that predictImages uses (batch norm folded, ReLU fused) and the tfjs-layers model
 * (`engine: "layers"`, the path before the plan), and the plan once more with the project's SIMD
 * convolution loop switched off (XNNPACK for every convolution, the plan before that loop). The
 * repetitions alternate fused / onnx / fused without the loop / layers inside ONE process so all
 * see the same machine load (the plan is compiled once per model, as the scorer does per model
 * version); the median repetition is reported, and beside it the median of each repetition's
 * fused / onnx ratio (the two run back to back: this VM's speed drifts by 20-40% over minutes).
 * `--baselines off` times the fused plan and onnx only. Output:
 * one JSON line per size on stdout (and a table on stderr).
 */
import { readFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setConvSimd } from "../../packages/ml/src/backend/conv-simd.js";
import { initBackend } from "../../packages/ml/src/backend/index.js";
import { parseCsv } from "../../packages/ml/src/data/csv.js";
import { decodeGrey } from "../../packages/ml/src/data/folder.js";
import type { ImageSet } from "../../packages/ml/src/data/image-set.js";
import { compileFusedClassifier } from "../../packages/ml/src/export/fused-inference.js";
import { exportClassifierToOnnx } from "../../packages/ml/src/export/onnx.js";
import {
  createOnnxSession,
  loadOnnxRuntime,
  predictImagesOnnx,
} from "../../packages/ml/src/export/onnx-runtime.js";
import { predictImages } from "../../packages/ml/src/fixmatch/predict.js";
import { buildClassifier } from "../../packages/ml/src/models/resnet.js";

const { values: args } = parseArgs({
  options: {
    root: { type: "string", default: "/work/shared/data/knee-oa-128" },
    sizes: { type: "string", default: "64,128" },
    images: { type: "string", default: "512" },
    batch: { type: "string", default: "64" },
    reps: { type: "string", default: "3" },
    width: { type: "string", default: "16" },
    blocks: { type: "string", default: "1,1,1" },
    threads: { type: "string" },
    baselines: { type: "string", default: "on" },
  },
});
const baselines = args.baselines !== "off";

const nImages = Number(args.images);
const batch = Number(args.batch);
const reps = Number(args.reps);
const cores = os.availableParallelism();
const threads = args.threads ? Number(args.threads) : cores;
const schema = {
  gate: { key: "abnormal", name: "Abnormal" },
  findings: [1, 2, 3, 4].map((g) => ({ key: `kl${g}`, name: `KL ${g}` })),
};

async function loadImages(size: number): Promise<ImageSet> {
  const root = args.root ?? "";
  const { header, rows } = parseCsv(await readFile(join(root, "labels.csv"), "utf8"));
  const pathCol = header.indexOf("path");
  const paths = rows
    .map((r) => r[pathCol] ?? "")
    .filter(Boolean)
    .slice(0, nImages);
  const px = size * size;
  const pixels = new Uint8Array(paths.length * px);
  for (let i = 0; i < paths.length; i++)
    pixels.set(await decodeGrey(join(root, paths[i] ?? ""), size), i * px);
  return { count: paths.length, size, pixels };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const backend = await initBackend({ prefer: "wasm", threads });
  const loaded = await loadOnnxRuntime();
  if (!loaded.ort) throw new Error(`onnxruntime-node cannot load: ${loaded.reason}`);
  const ort = loaded.ort;
  const load = os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");
  process.stderr.write(
    `cores ${cores}, threads ${threads}, tfjs ${backend.name} (${backend.detail}), load ${load}\n`,
  );
  for (const size of (args.sizes ?? "").split(",").map(Number)) {
    const images = await loadImages(size);
    const net = buildClassifier({
      encoder: {
        inputSize: size,
        width: Number(args.width),
        blocks: (args.blocks ?? "1,1,1").split(",").map(Number),
      },
      schema,
    });
    const onnx = exportClassifierToOnnx(net);
    const session = await createOnnxSession(ort, onnx, { threads });
    const warm: ImageSet = { count: batch, size, pixels: images.pixels.subarray(0, batch * size * size) };
    await predictImages(net, warm, { batchSize: batch, embeddings: true });
    await predictImagesOnnx(ort, session, warm, net.headKeys, { batchSize: batch, embeddings: true });
    const tfRates: number[] = [];
    const xnnRates: number[] = [];
    const layersRates: number[] = [];
    const ortRates: number[] = [];
    let maxDiff = 0;
    // One plan per model, as the scorer compiles one per model version (and as the ONNX session
    // is created once, outside the timing).
    const plan = compileFusedClassifier(net);
    const fusedOpts = { batchSize: batch, embeddings: true, plan };
    for (let r = 0; r < reps; r++) {
      // The fused plan and onnxruntime back to back, so each pair sees the same machine.
      let t = performance.now();
      const a = await predictImages(net, images, fusedOpts);
      tfRates.push(images.count / ((performance.now() - t) / 1000));
      t = performance.now();
      const b = await predictImagesOnnx(ort, session, images, net.headKeys, {
        batchSize: batch,
        embeddings: true,
      });
      ortRates.push(images.count / ((performance.now() - t) / 1000));
      for (let i = 0; i < a.probs.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs((a.probs[i] ?? 0) - (b.probs[i] ?? 0)));
      if (!baselines) continue;
      setConvSimd(false);
      t = performance.now();
      await predictImages(net, images, fusedOpts);
      xnnRates.push(images.count / ((performance.now() - t) / 1000));
      setConvSimd(true);
      t = performance.now();
      await predictImages(net, images, { batchSize: batch, embeddings: true, engine: "layers" });
      layersRates.push(images.count / ((performance.now() - t) / 1000));
    }
    plan.dispose();
    const tf = median(tfRates);
    const xnn = median(xnnRates);
    const layers = median(layersRates);
    const on = median(ortRates);
    const paired = median(tfRates.map((x, i) => x / (ortRates[i] ?? Number.NaN)));
    const row = {
      size,
      images: images.count,
      batch,
      threads,
      model: {
        width: Number(args.width),
        blocks: args.blocks,
        heads: net.headKeys.length,
        onnxBytes: onnx.length,
      },
      tfjsWasmImagesPerSec: Number(tf.toFixed(1)),
      tfjsWasmXnnpackOnlyImagesPerSec: Number(xnn.toFixed(1)),
      tfjsLayersImagesPerSec: Number(layers.toFixed(1)),
      onnxImagesPerSec: Number(on.toFixed(1)),
      ratio: Number((on / tf).toFixed(2)),
      wasmOverOnnx: Number((tf / on).toFixed(3)),
      wasmOverOnnxPairedMedian: Number(paired.toFixed(3)),
      tfjsRuns: tfRates.map((x) => Number(x.toFixed(1))),
      tfjsXnnpackOnlyRuns: xnnRates.map((x) => Number(x.toFixed(1))),
      tfjsLayersRuns: layersRates.map((x) => Number(x.toFixed(1))),
      onnxRuns: ortRates.map((x) => Number(x.toFixed(1))),
      maxAbsProbDiff: maxDiff,
      hoursPerMillionTfjs: Number((1e6 / tf / 3600).toFixed(2)),
      hoursPerMillionOnnx: Number((1e6 / on / 3600).toFixed(2)),
      loadAvg: os.loadavg().map((x) => Number(x.toFixed(1))),
    };
    process.stdout.write(`${JSON.stringify(row)}\n`);
    const base = baselines
      ? ` (without the SIMD conv loop ${xnn.toFixed(1)}, layers model ${layers.toFixed(1)})`
      : "";
    const baseRatio = baselines ? `; without the loop ${(xnn / on).toFixed(2)}` : "";
    process.stderr.write(
      `${size}px: tfjs-wasm fused ${tf.toFixed(1)} img/s${base}, onnxruntime ${on.toFixed(1)} img/s, wasm / onnx ${(tf / on).toFixed(2)} (median of per-repetition ratios ${paired.toFixed(2)}${baseRatio}), max |dp| ${maxDiff.toExponential(1)}\n`,
    );
    await session.release();
    net.full.dispose();
  }
}

await main();
process.exit(0);
