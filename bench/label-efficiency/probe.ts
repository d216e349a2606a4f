/**
 * Linear probe of a saved encoder: how much of the label sits in its frozen features. Embeds the
 * train and held-out images (mean-pooled feature map, inference mode), fits an L2-regularized
 * logistic regression on the embeddings of the labelled subset that run.ts would draw (same
 * fraction, seed and patient sampling) and prints the held-out AUROC, one JSON line per encoder,
 * fraction and L2 weight. A diagnostic for comparing pretraining recipes in seconds rather than
 * a fine-tuning run; not a label-efficiency figure.
 *
 *   pnpm exec tsx bench/label-efficiency/probe.ts --dataset knee --size 64 --fractions 0.05,1 \
 *     .cache/bench-knee-enc9-s0 random:16:large
 *
 * An argument `random:WIDTH:STEM` probes a freshly initialized encoder (kernels drawn from --seed)
 * as the floor.
 */
import { parseArgs } from "node:util";
import { initBackend } from "../../packages/ml/src/backend/index.js";
import { type ImageSet, imageBatch } from "../../packages/ml/src/data/image-set.js";
import { loadEncoder } from "../../packages/ml/src/io/model-io.js";
import { auroc } from "../../packages/ml/src/metrics/index.js";
import { encoderConfigSchema } from "../../packages/ml/src/models/config.js";
import { buildEncoder } from "../../packages/ml/src/models/resnet.js";
import { embed, normalizeImages } from "../../packages/ml/src/ssl/pretrain.js";
import { seedKernels } from "../../packages/ml/src/train/weights.js";
import { loadData, sampleLabelled } from "./data.js";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dataset: { type: "string", default: "knee" },
    size: { type: "string" },
    fractions: { type: "string", default: "0.05,1" },
    seed: { type: "string", default: "0" },
    /** L2 weights of the logistic regression (per image, on standardized features). */
    l2: { type: "string", default: "0.001,0.01,0.1" },
  },
});
if (positionals.length === 0) throw new Error("give one or more encoder directories (or random:WIDTH:STEM)");
const seed = Number(args.seed);
const fractions = (args.fractions ?? "").split(",").map(Number);
const l2s = (args.l2 ?? "").split(",").map(Number);

/** Embeddings of every image, batch by batch, as rows of a Float64Array (count x dim). */
function embedAll(encoder: Parameters<typeof embed>[0], set: ImageSet, mean: number, std: number) {
  const rows: Float32Array[] = [];
  let dim = 0;
  for (let i = 0; i < set.count; i += 256) {
    const idx = Array.from({ length: Math.min(256, set.count - i) }, (_, j) => i + j);
    const raw = imageBatch(set, idx);
    const x = normalizeImages(raw, { mean, std });
    raw.dispose();
    const e = embed(encoder, x, false);
    x.dispose();
    dim = e.shape[1];
    rows.push(e.dataSync() as Float32Array);
    e.dispose();
  }
  const out = new Float64Array(set.count * dim);
  let o = 0;
  for (const r of rows) for (const v of r) out[o++] = v;
  return { x: out, dim };
}

/**
 * L2-regularized logistic regression by Newton's method (dim + 1 unknowns), features standardized
 * with the labelled subset's mean and SD. Returns held-out scores.
 */
function logisticProbe(
  xTr: Float64Array,
  yTr: number[],
  xTe: Float64Array,
  dim: number,
  l2: number,
): Float64Array {
  const n = yTr.length;
  const mu = new Float64Array(dim);
  const sd = new Float64Array(dim);
  for (let i = 0; i < n; i++)
    for (let d = 0; d < dim; d++) mu[d] = (mu[d] ?? 0) + (xTr[i * dim + d] ?? 0) / n;
  for (let i = 0; i < n; i++)
    for (let d = 0; d < dim; d++) sd[d] = (sd[d] ?? 0) + ((xTr[i * dim + d] ?? 0) - (mu[d] ?? 0)) ** 2 / n;
  for (let d = 0; d < dim; d++) sd[d] = Math.sqrt(sd[d] ?? 0) || 1;
  const p = dim + 1;
  // Design matrices, standardized once: p columns, the last the intercept's 1.
  const design = (x: Float64Array) => {
    const rows = x.length / dim;
    const z = new Float64Array(rows * p);
    for (let i = 0; i < rows; i++) {
      for (let d = 0; d < dim; d++) z[i * p + d] = ((x[i * dim + d] ?? 0) - (mu[d] ?? 0)) / (sd[d] ?? 1);
      z[i * p + dim] = 1;
    }
    return z;
  };
  const zTr = design(xTr);
  const w = new Float64Array(p);
  const logit = (z: Float64Array, i: number) => {
    let v = 0;
    for (let d = 0; d < p; d++) v += (w[d] ?? 0) * (z[i * p + d] ?? 0);
    return v;
  };
  for (let iter = 0; iter < 30; iter++) {
    const g = new Float64Array(p);
    const h = new Float64Array(p * p);
    for (let i = 0; i < n; i++) {
      const q = 1 / (1 + Math.exp(-logit(zTr, i)));
      const r = q - (yTr[i] ?? 0);
      const s = q * (1 - q);
      for (let a = 0; a < p; a++) {
        const fa = zTr[i * p + a] ?? 0;
        g[a] = (g[a] ?? 0) + (r * fa) / n;
        for (let b = 0; b <= a; b++)
          h[a * p + b] = (h[a * p + b] ?? 0) + (s * fa * (zTr[i * p + b] ?? 0)) / n;
      }
    }
    for (let a = 0; a < dim; a++) {
      g[a] = (g[a] ?? 0) + l2 * (w[a] ?? 0);
      h[a * p + a] = (h[a * p + a] ?? 0) + l2;
    }
    h[dim * p + dim] = (h[dim * p + dim] ?? 0) + 1e-9;
    for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) h[b * p + a] = h[a * p + b] ?? 0;
    const step = solve(h, g, p);
    let norm = 0;
    for (let a = 0; a < p; a++) {
      w[a] = (w[a] ?? 0) - (step[a] ?? 0);
      norm += (step[a] ?? 0) ** 2;
    }
    if (Math.sqrt(norm) < 1e-8) break;
  }
  const zTe = design(xTe);
  return Float64Array.from({ length: xTe.length / dim }, (_, i) => logit(zTe, i));
}

/** Solves the symmetric positive-definite system A x = b (Cholesky). */
function solve(a: Float64Array, b: Float64Array, p: number): Float64Array {
  const l = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * p + j] ?? 0;
      for (let k = 0; k < j; k++) s -= (l[i * p + k] ?? 0) * (l[j * p + k] ?? 0);
      l[i * p + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / (l[j * p + j] ?? 1);
    }
  }
  const y = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = b[i] ?? 0;
    for (let k = 0; k < i; k++) s -= (l[i * p + k] ?? 0) * (y[k] ?? 0);
    y[i] = s / (l[i * p + i] ?? 1);
  }
  const x = new Float64Array(p);
  for (let i = p - 1; i >= 0; i--) {
    let s = y[i] ?? 0;
    for (let k = i + 1; k < p; k++) s -= (l[k * p + i] ?? 0) * (x[k] ?? 0);
    x[i] = s / (l[i * p + i] ?? 1);
  }
  return x;
}

async function main() {
  await initBackend({ prefer: "wasm" });
  const data = await loadData(args.dataset ?? "knee", args.size ? Number(args.size) : undefined);
  for (const spec of positionals) {
    let encoder: Parameters<typeof embed>[0];
    let norm = { mean: 0.5, std: 0.25 };
    let extra: unknown = null;
    if (spec.startsWith("random:")) {
      const [, w, stem] = spec.split(":");
      const cfg = encoderConfigSchema.parse({
        inputSize: data.train.size,
        width: Number(w),
        blocks: [1, 1, 1],
        stem: stem ?? "auto",
      });
      encoder = buildEncoder(cfg);
      seedKernels(encoder, seed);
    } else {
      const loaded = await loadEncoder(spec);
      if (loaded.meta.inputSize !== data.train.size)
        throw new Error(
          `${spec} takes ${loaded.meta.inputSize} px images, the data is ${data.train.size} px`,
        );
      encoder = loaded.encoder;
      norm = loaded.meta.normalization;
      extra = loaded.meta.extra ?? null;
    }
    const t0 = performance.now();
    const tr = embedAll(encoder, data.train, norm.mean, norm.std);
    const te = embedAll(encoder, data.test, norm.mean, norm.std);
    const embedSeconds = (performance.now() - t0) / 1000;
    encoder.dispose();
    for (const fraction of fractions) {
      const idx = sampleLabelled(data, fraction, seed);
      const xs = new Float64Array(idx.length * tr.dim);
      idx.forEach((i, r) => {
        xs.set(tr.x.subarray(i * tr.dim, (i + 1) * tr.dim), r * tr.dim);
      });
      const ys = idx.map((i) => data.trainLabels[i] ?? 0);
      for (const l2 of l2s) {
        const scores = logisticProbe(xs, ys, te.x, tr.dim, l2);
        const row = {
          encoder: spec,
          extra,
          dataset: data.name,
          seed,
          fraction,
          labelled: idx.length,
          l2,
          dim: tr.dim,
          auroc: Number(auroc(data.testLabels, scores).toFixed(4)),
          embedSeconds: Number(embedSeconds.toFixed(1)),
        };
        console.log(JSON.stringify(row));
      }
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
