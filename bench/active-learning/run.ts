/**
 * Active-learning curve on knee-oa-128: the abnormal gate (oa_kl_ge2), pool = train split, AUROC on
 * the held-out (patient-disjoint) val split after every round.
 *
 *   pnpm exec tsx bench/active-learning/run.ts --size 32 --rounds 5 --steps 60 \
 *     --out bench/active-learning/results/knee-32.jsonl
 *
 * Round 0 trains on 2% of the pool's patients (stratified by each patient's majority label); each
 * later round adds `--add` images chosen by a strategy from the registry in packages/ml/src/selection
 * ("random", "entropy", "entropy+kcenter"), their labels answered from labels.csv. Round 0 is shared
 * by all strategies (same labels, same seed = the same model). Every round trains a fresh network from
 * the same seed with the same schedule (supervised only: FixMatch off), and one more network trains on
 * every pool label with that schedule (the full-label reference). Each result is appended to --out as a
 * JSON line as soon as it exists; `summary.ts` turns the file into the tables in docs/benchmarks.md.
 */
import { appendFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { strongAugment, weakAugment } from "../../packages/ml/src/augment/index.js";
import { createRng } from "../../packages/ml/src/augment/rng.js";
import { initBackend } from "../../packages/ml/src/backend/index.js";
import { type ImageSet, type LabelMatrix, subsetImages } from "../../packages/ml/src/data/image-set.js";
import { kneeSplit, loadKneeDataset } from "../../packages/ml/src/data/knee.js";
import { predictImages } from "../../packages/ml/src/fixmatch/predict.js";
import { fitClassifier } from "../../packages/ml/src/fixmatch/trainer.js";
import { auroc } from "../../packages/ml/src/metrics/index.js";
import { buildClassifier, type ClassifierNet } from "../../packages/ml/src/models/resnet.js";
import { getStrategy, type PoolScores } from "../../packages/ml/src/selection/index.js";
import { mixSeed } from "../../packages/ml/src/train/seed.js";

const { values: args } = parseArgs({
  options: {
    root: { type: "string", default: "/work/shared/data/knee-oa-128" },
    size: { type: "string", default: "32" },
    width: { type: "string", default: "8" },
    blocks: { type: "string", default: "1,1,1" },
    /** Encoder stem: auto (3x3/1 below 96 px, 7x7/2 + pool above), small or large. */
    stem: { type: "string", default: "auto" },
    "initial-fraction": { type: "string", default: "0.02" },
    /** Images added per round; default: twice the initial label count. */
    add: { type: "string" },
    rounds: { type: "string", default: "5" },
    steps: { type: "string", default: "60" },
    "batch-size": { type: "string", default: "32" },
    strategies: { type: "string", default: "random,entropy,entropy+kcenter" },
    /** Skip the full-label reference (e.g. when it runs in another process). */
    "no-full": { type: "boolean", default: false },
    /** Only the full-label reference. */
    "full-only": { type: "boolean", default: false },
    seed: { type: "string", default: "0" },
    out: { type: "string", default: "bench/active-learning/results/results.jsonl" },
  },
});

const seed = Number(args.seed);
const size = Number(args.size);
const steps = Number(args.steps);
const B = Number(args["batch-size"]);
const rounds = Number(args.rounds);
const encoder = {
  inputSize: size,
  width: Number(args.width),
  blocks: (args.blocks ?? "1,1,1").split(",").map(Number),
  stem: (args.stem === "small" || args.stem === "large" ? args.stem : "auto") as "auto" | "small" | "large",
};
const schema = { gate: { key: "abnormal", name: "Abnormal (KL >= 2)" }, findings: [] };
const out = args.out ?? "results.jsonl";
const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
const log = (m: string) => process.stderr.write(`[${elapsed().toFixed(0)}s] ${m}\n`);

interface Pool {
  images: ImageSet;
  labels: number[];
  patients: string[];
}

/** 2% of patients, stratified by each patient's majority label (as bench/label-efficiency does). */
function initialLabelled(pool: Pool, fraction: number): number[] {
  const byPatient = new Map<string, number[]>();
  pool.patients.forEach((p, i) => {
    byPatient.set(p, [...(byPatient.get(p) ?? []), i]);
  });
  const strata: [string[], string[]] = [[], []];
  for (const [p, idx] of byPatient) {
    const pos = idx.filter((i) => pool.labels[i] === 1).length;
    strata[pos * 2 >= idx.length ? 1 : 0].push(p);
  }
  const rng = createRng(mixSeed(seed, 2024));
  const chosen: number[] = [];
  for (const group of strata) {
    const want = Math.max(1, Math.round(group.length * fraction));
    for (const p of rng.shuffle(group.slice()).slice(0, want)) chosen.push(...(byPatient.get(p) ?? []));
  }
  return chosen.sort((a, b) => a - b);
}

async function train(
  pool: Pool,
  labelled: readonly number[],
): Promise<{ net: ClassifierNet; seconds: number }> {
  const ts = performance.now();
  const net = buildClassifier({ encoder, schema, dropout: 0.2 });
  const labels: LabelMatrix = {
    heads: ["abnormal"],
    values: Float32Array.from(labelled.map((i) => pool.labels[i] ?? 0)),
  };
  await fitClassifier({
    config: {
      seed,
      epochs: 1,
      stepsPerEpoch: steps,
      batchSize: B,
      lr: 2e-3,
      warmupEpochs: 0.05,
      weightDecay: 5e-4,
      fixmatch: { enabled: false },
      ema: { enabled: true, decay: 0.98 },
    },
    net,
    labelled: { images: subsetImages(pool.images, labelled), labels },
    augment: { weak: (x, rng) => weakAugment(x, rng), strong: (x, rng) => strongAugment(x, rng) },
  });
  return { net, seconds: (performance.now() - ts) / 1000 };
}

async function evaluate(net: ClassifierNet, val: ImageSet, valLabels: number[]): Promise<number> {
  const p = await predictImages(net, val, { batchSize: 128 });
  return auroc(valLabels, p.probs);
}

async function record(row: Record<string, unknown>): Promise<void> {
  const full = {
    ...row,
    size,
    encoder,
    steps,
    batchSize: B,
    seed,
    fixmatch: false,
    elapsedSeconds: Math.round(elapsed()),
  };
  log(JSON.stringify(full));
  await appendFile(out, `${JSON.stringify(full)}\n`);
}

async function main(): Promise<void> {
  const backend = await initBackend({ prefer: "wasm" });
  const k = await loadKneeDataset({ root: args.root ?? "", size, cacheDir: ".cache/knee" });
  const tr = kneeSplit(k, "train");
  const va = kneeSplit(k, "val");
  const pool: Pool = {
    images: tr.images,
    labels: tr.rows.map((r) => r.oa_kl_ge2),
    patients: tr.rows.map((r) => r.patient_id),
  };
  const trainPatients = new Set(pool.patients);
  if (va.rows.some((r) => trainPatients.has(r.patient_id)))
    throw new Error("a val patient also appears in the train split");
  const val = va.images;
  const valLabels = va.rows.map((r) => r.oa_kl_ge2);
  await mkdir(dirname(out), { recursive: true });
  log(`knee ${size}px: pool ${pool.images.count}, val ${val.count}; ${backend.detail}`);

  if (!args["full-only"]) {
    const initial = initialLabelled(pool, Number(args["initial-fraction"]));
    const add = args.add ? Number(args.add) : 2 * initial.length;
    const strategyNames = (args.strategies ?? "").split(",").filter(Boolean);
    const r0 = await train(pool, initial);
    const auc0 = await evaluate(r0.net, val, valLabels);
    const tsc = performance.now();
    const p0 = await predictImages(r0.net, pool.images, { batchSize: 256, embeddings: true });
    const scoreSeconds = (performance.now() - tsc) / 1000;
    r0.net.full.dispose();
    for (const name of strategyNames)
      await record({
        kind: "round",
        strategy: name,
        round: 0,
        labels: initial.length,
        auroc: auc0,
        trainSeconds: r0.seconds,
        scoreSeconds,
      });
    // Round-major order (every strategy finishes round r before any starts round r + 1), so that a run
    // stopped early still compares all strategies at the same label counts.
    const state = strategyNames.map((name) => ({
      name,
      strategy: getStrategy(name),
      labelled: initial.slice(),
      scores: {
        probs: [p0.probs],
        embeddings: { data: p0.embeddings ?? new Float32Array(), n: p0.count, dim: p0.embeddingSize ?? 0 },
      } as PoolScores,
    }));
    for (let round = 1; round <= rounds; round++) {
      for (const st of state) {
        const picked = st.strategy.select(st.scores, {
          batchSize: add,
          seed: mixSeed(seed, round),
          labelled: st.labelled,
        });
        st.labelled = [...st.labelled, ...picked];
        const r = await train(pool, st.labelled);
        const auc = await evaluate(r.net, val, valLabels);
        let sSec = 0;
        // "random" reads no scores, only the pool size: the round-0 scores stand in unchanged.
        if (round < rounds && st.strategy.requires.length > 0) {
          const ts = performance.now();
          const p = await predictImages(r.net, pool.images, { batchSize: 256, embeddings: true });
          sSec = (performance.now() - ts) / 1000;
          st.scores = {
            probs: [p.probs],
            embeddings: { data: p.embeddings ?? new Float32Array(), n: p.count, dim: p.embeddingSize ?? 0 },
          };
        }
        r.net.full.dispose();
        const positives = picked.filter((i) => pool.labels[i] === 1).length;
        await record({
          kind: "round",
          strategy: st.name,
          round,
          labels: st.labelled.length,
          added: picked.length,
          addedPositives: positives,
          auroc: auc,
          trainSeconds: r.seconds,
          scoreSeconds: sSec,
        });
      }
    }
  }
  if (!args["no-full"]) {
    const all = pool.labels.map((_, i) => i);
    const r = await train(pool, all);
    const auc = await evaluate(r.net, val, valLabels);
    r.net.full.dispose();
    await record({
      kind: "full",
      strategy: "full-label",
      labels: all.length,
      auroc: auc,
      trainSeconds: r.seconds,
    });
  }
  log("done");
}

await main();
// The wasm backend's worker threads keep Node alive after the work is done.
process.exit(0);
