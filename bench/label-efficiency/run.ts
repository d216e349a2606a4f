/**
 * Label-efficiency benchmark: supervised only vs FixMatch from scratch vs SimCLR pretraining +
 * FixMatch, at several labelled fractions, AUROC on the held-out split.
 *
 *   pnpm exec tsx bench/label-efficiency/run.ts --dataset pneumonia --arms sup,fm,sslfm \
 *     --fractions 0.01,0.05,0.1,1 --steps 200 --ssl-steps 200 --seed 0 --out bench/label-efficiency/results/x.json
 *
 * Each run appends one JSON line to --out as soon as it finishes (so partial results survive).
 */
import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { sslView, strongAugment, weakAugment } from "../../packages/ml/src/augment/index.js";
import { initBackend } from "../../packages/ml/src/backend/index.js";
import { type LabelMatrix, subsetImages } from "../../packages/ml/src/data/image-set.js";
import { predictImages } from "../../packages/ml/src/fixmatch/predict.js";
import { fitClassifier } from "../../packages/ml/src/fixmatch/trainer.js";
import {
  loadClassifier,
  loadEncoder,
  saveClassifier,
  saveEncoder,
} from "../../packages/ml/src/io/model-io.js";
import { aurocCI, averagePrecision } from "../../packages/ml/src/metrics/index.js";
import { encoderConfigSchema } from "../../packages/ml/src/models/config.js";
import { buildClassifier, buildEncoder, copyEncoderWeights } from "../../packages/ml/src/models/resnet.js";
import { getPretrainer } from "../../packages/ml/src/ssl/pretrain.js";
import { loadData, sampleLabelled } from "./data.js";

const { values: args } = parseArgs({
  options: {
    dataset: { type: "string", default: "pneumonia" },
    arms: { type: "string", default: "sup,fm,sslfm" },
    fractions: { type: "string", default: "0.01,0.05,0.1,1" },
    steps: { type: "string", default: "200" },
    /** Self-supervised pretraining steps when this run pretrains (default 200). */
    "ssl-steps": { type: "string" },
    /** Self-supervised method when this run pretrains: simclr (default) or simsiam. */
    "ssl-method": { type: "string" },
    /** SimCLR recipe when this run pretrains: NT-Xent temperature, learning rate, batch, crop area range. */
    "ssl-temperature": { type: "string", default: "0.2" },
    "ssl-lr": { type: "string", default: "0.002" },
    "ssl-batch": { type: "string", default: "64" },
    /** Smallest random-resized-crop area of the SSL views (largest 1). */
    "ssl-crop-min": { type: "string", default: "0.35" },
    "batch-size": { type: "string", default: "32" },
    mu: { type: "string", default: "2" },
    width: { type: "string", default: "16" },
    blocks: { type: "string", default: "1,1,1" },
    /** Encoder stem: auto (3x3/1 below 96 px, 7x7/2 + pool above), small or large. */
    stem: { type: "string", default: "auto" },
    size: { type: "string" },
    seed: { type: "string", default: "0" },
    threshold: { type: "string", default: "0.95" },
    /** Pseudo-label weighting of the FixMatch arms: threshold (FixMatch) or softmatch (threshold unused). */
    weighting: { type: "string", default: "threshold" },
    /** Learning-rate multiplier of the pretrained encoder in the sslfm arm (heads: 1). */
    "encoder-lr-scale": { type: "string", default: "1" },
    out: { type: "string", default: "bench/label-efficiency/results/results.jsonl" },
    /** Load the SimCLR encoder from here (waits until another process has saved it). */
    "encoder-dir": { type: "string" },
    /** Save the SimCLR encoder here after pretraining. */
    "save-encoder": { type: "string" },
    /** Pseudo-labels of the FixMatch arms from the live model (FixMatch) or its EMA weights (mean teacher). */
    "pseudo-labels": { type: "string", default: "model" },
    /** Unsupervised targets: hard (FixMatch) or soft (the aligned probabilities, every image weight 1). */
    targets: { type: "string", default: "hard" },
    /**
     * A saved classifier (--save-model of an earlier run) that predicts the pseudo-labels instead;
     * several, comma-separated, teach with their mean probability (an ensemble).
     */
    teacher: { type: "string" },
    /**
     * Heads: "gate" (abnormal only) or "kl" (knee: the gate plus one binary head per KL grade, the
     * trainer CLI's default knee schema). AUROC is always the gate's.
     */
    heads: { type: "string", default: "gate" },
    /** Views of the labelled images: weak (FixMatch) or strong. */
    "labelled-aug": { type: "string", default: "weak" },
    /** Beta(a, a) mixup of the labelled batch (0: off). */
    mixup: { type: "string", default: "0" },
    /** Beta(a, a) mixup among the pseudo-labelled strong views (0: off; fixmatch.mixup). */
    "mixup-u": { type: "string", default: "0" },
    /** Weight of the unsupervised loss (FixMatch's lambda_u). */
    "lambda-u": { type: "string", default: "1" },
    /** Save each run's final (EMA) classifier here (one fraction and arm per process). */
    "save-model": { type: "string" },
  },
});

const seed = Number(args.seed);
const steps = Number(args.steps);
let sslSteps = Number(args["ssl-steps"] ?? 200);
const B = Number(args["batch-size"]);
const mu = Number(args.mu);
const encoderLrScale = Number(args["encoder-lr-scale"]);
/** A flag that takes one of a few words (the first is its default); anything else is refused. */
function choice<T extends string>(name: keyof typeof args, allowed: readonly [T, T]): T {
  const value = args[name];
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Error(`--${name}: ${allowed.join(" or ")}, not ${value}`);
  return found;
}
const weighting = choice("weighting", ["threshold", "softmatch"]);
const targets = choice("targets", ["hard", "soft"]);
const pseudoLabels = choice("pseudo-labels", ["model", "ema"]);
const headsMode = choice("heads", ["gate", "kl"]);
if (headsMode === "kl" && args.dataset === "pneumonia") throw new Error("--heads kl needs --dataset knee");
const labelledAugment = choice("labelled-aug", ["weak", "strong"]);
let sslMethod: string =
  args["ssl-method"] === undefined ? "simclr" : choice("ssl-method", ["simclr", "simsiam"]);
const mixup = Number(args.mixup);
if (!(mixup >= 0)) throw new Error(`--mixup: a Beta parameter >= 0 (0: off), not ${args.mixup}`);
const mixupU = Number(args["mixup-u"]);
if (!(mixupU >= 0)) throw new Error(`--mixup-u: a Beta parameter >= 0 (0: off), not ${args["mixup-u"]}`);
const lambdaU = Number(args["lambda-u"]);
if (!(lambdaU >= 0)) throw new Error(`--lambda-u: a weight >= 0, not ${args["lambda-u"]}`);
const width = Number(args.width);
const blocks = (args.blocks ?? "1,1,1").split(",").map(Number);
const arms = (args.arms ?? "").split(",").filter(Boolean);
/** `--fractions none`: pretrain (and save the encoder) only. */
const fractions = args.fractions === "none" ? [] : (args.fractions ?? "").split(",").map(Number);
if (fractions.some((f) => !(f > 0 && f <= 1)))
  throw new Error(`--fractions: values in (0, 1] or none, not ${args.fractions}`);
const ssl = {
  temperature: Number(args["ssl-temperature"]),
  lr: Number(args["ssl-lr"]),
  batch: Number(args["ssl-batch"]),
  cropMin: Number(args["ssl-crop-min"]),
};
if (
  !(
    ssl.temperature > 0 &&
    ssl.lr > 0 &&
    Number.isInteger(ssl.batch) &&
    ssl.batch >= 2 &&
    ssl.cropMin > 0 &&
    ssl.cropMin <= 1
  )
)
  throw new Error(
    `--ssl-temperature/--ssl-lr > 0, --ssl-batch an integer >= 2, --ssl-crop-min in (0, 1]: ${JSON.stringify(ssl)}`,
  );
if (fractions.length === 0 && !(arms.includes("sslfm") && args["save-encoder"] && !args["encoder-dir"]))
  throw new Error("--fractions none pretrains only: give --arms sslfm and --save-encoder");
const out = args.out ?? "results.jsonl";
if (args["save-model"] && arms.length * fractions.length !== 1)
  throw new Error("--save-model keeps one model: give one arm and one fraction");

type Stem = "auto" | "small" | "large";
const stem: Stem = args.stem === "small" || args.stem === "large" ? args.stem : "auto";
const encoderConfig = (c: { inputSize: number; width: number; blocks: number[]; stem: Stem }) =>
  encoderConfigSchema.parse(c);
const KL = [0, 1, 2, 3, 4];
const schema = {
  gate: { key: "abnormal", name: "Abnormal" },
  findings: headsMode === "kl" ? KL.map((g) => ({ key: `kl${g}`, name: `KL grade ${g}` })) : [],
};
const headKeys = [schema.gate.key, ...schema.findings.map((f) => f.key)];

async function main() {
  const backend = await initBackend({ prefer: "wasm" });
  const t0 = performance.now();
  const data = await loadData(args.dataset ?? "pneumonia", args.size ? Number(args.size) : undefined);
  const inputSize = data.train.size;
  const encoderCfg = { inputSize, width, blocks, stem };
  console.error(
    `${data.name}: train ${data.train.count}, ${data.testSplit} ${data.test.count}, load ${((performance.now() - t0) / 1000).toFixed(1)}s`,
  );
  await mkdir(dirname(out), { recursive: true });

  let pretrained: ReturnType<typeof buildEncoder> | null = null;
  let sslSeconds = 0;
  let sslRecipe: typeof ssl | null = null;
  if (arms.includes("sslfm") && args["encoder-dir"]) {
    const encDir = args["encoder-dir"];
    while (!existsSync(join(encDir, "metadata.json"))) await new Promise((r) => setTimeout(r, 5000));
    const loaded = await loadEncoder(encDir);
    const extra = loaded.meta.extra as
      | { sslSeconds?: number; sslSteps?: number; sslMethod?: string; ssl?: typeof ssl }
      | undefined;
    // Encoders saved before --ssl-method existed were all SimCLR. A method asked for must match.
    const savedMethod = extra?.sslMethod ?? "simclr";
    if (args["ssl-method"] !== undefined && args["ssl-method"] !== savedMethod)
      throw new Error(`${encDir} was pretrained with ${savedMethod}, not --ssl-method ${args["ssl-method"]}`);
    sslMethod = savedMethod;
    // The recipe the encoder was pretrained with (encoders saved before it was recorded: the defaults).
    sslRecipe = extra?.ssl ?? null;
    sslSeconds = Number(extra?.sslSeconds ?? 0);
    // The loaded encoder's own step count, not this run's --ssl-steps (which it did not use). An
    // encoder saved without one needs --ssl-steps given (the default once stood in for 300).
    if (extra?.sslSteps === undefined && args["ssl-steps"] === undefined) {
      throw new Error(`${encDir} does not record its SimCLR steps: give --ssl-steps`);
    }
    sslSteps = Number(extra?.sslSteps ?? sslSteps);
    pretrained = loaded.encoder;
  } else if (arms.includes("sslfm")) {
    const enc = buildEncoder(encoderCfg);
    const ts = performance.now();
    const sslBatch = ssl.batch;
    const perEpoch = Math.floor(data.train.count / sslBatch);
    const epochs = Math.max(1, Math.ceil(sslSteps / perEpoch));
    const res = await getPretrainer(sslMethod).pretrain({
      config: {
        seed,
        batchSize: sslBatch,
        lr: ssl.lr,
        temperature: ssl.temperature,
        warmupEpochs: Math.min(1, epochs / 10),
        stepsPerEpoch: Math.ceil(sslSteps / epochs),
      },
      encoder: enc,
      encoderConfig: encoderCfg,
      stages: [{ name: data.name, data: data.train, epochs }],
      view: (x, rng) => sslView(x, rng, { scale: [ssl.cropMin, 1] }),
      onEpoch: (m) =>
        console.error(`ssl epoch ${m.globalEpoch} loss ${m.loss.toFixed(4)} ${m.seconds.toFixed(0)}s`),
    });
    sslSeconds = (performance.now() - ts) / 1000;
    console.error(`ssl done: ${res.metrics.length} epochs, ${sslSeconds.toFixed(0)}s`);
    pretrained = enc;
    sslRecipe = ssl;
    if (args["save-encoder"]) {
      await saveEncoder(enc, encoderConfig(encoderCfg), { mean: 0.5, std: 0.25 }, args["save-encoder"], {
        extra: { sslSeconds, sslSteps, sslMethod, ssl },
      });
    }
  }

  // A teacher being trained by another process is waited for, as --encoder-dir is.
  const teacherDirs = args.teacher ? args.teacher.split(",").filter(Boolean) : [];
  for (const dir of teacherDirs) {
    while (!existsSync(join(dir, "metadata.json"))) await new Promise((r) => setTimeout(r, 5000));
  }
  const teachers = await Promise.all(teacherDirs.map((dir) => loadClassifier(dir)));
  const teacherRows = await Promise.all(
    teacherDirs.map(
      async (dir) =>
        JSON.parse(await readFile(join(dir, "metadata.json"), "utf8")).extra as Record<string, unknown>,
    ),
  );
  // Self-training round: 1 above the latest round among the teachers (a plain run is round 0;
  // rows saved before rounds were counted name a teacher only in round 1).
  const roundOf = (t: Record<string, unknown>) => Number(t.round ?? (t.pseudoLabels === "teacher" ? 1 : 0));
  const round = teacherRows.length === 0 ? 0 : 1 + Math.max(...teacherRows.map(roundOf));
  for (const fraction of fractions) {
    const lIdx = sampleLabelled(data, fraction, seed);
    const lImages = subsetImages(data.train, lIdx);
    const labels: LabelMatrix = {
      heads: headKeys,
      values: Float32Array.from(
        lIdx.flatMap((i) => [
          data.trainLabels[i] ?? 0,
          ...(headsMode === "kl" ? KL.map((g) => (data.trainGrades?.[i] === g ? 1 : 0)) : []),
        ]),
      ),
    };
    for (const arm of arms) {
      const tr = performance.now();
      const net = buildClassifier({ encoder: encoderCfg, schema, dropout: 0.2 });
      if (arm === "sslfm" && pretrained) copyEncoderWeights(pretrained, net.encoder);
      const res = await fitClassifier({
        config: {
          seed,
          epochs: 1,
          stepsPerEpoch: steps,
          batchSize: B,
          lr: 1e-3,
          warmupEpochs: 0.05,
          weightDecay: 5e-4,
          seedInit: arm !== "sslfm",
          encoderLrScale: arm === "sslfm" ? encoderLrScale : 1,
          labelledAugment,
          mixup,
          fixmatch: {
            enabled: arm !== "sup",
            mu,
            lambdaU,
            threshold: Number(args.threshold),
            weighting,
            distributionAlignment: true,
            pseudoLabels,
            targets,
            mixup: mixupU,
          },
          ema: { enabled: true, decay: 0.99 },
        },
        net,
        labelled: { images: lImages, labels },
        ...(arm === "sup"
          ? {}
          : { unlabelled: data.train, ...(teachers.length > 0 ? { teacher: teachers } : {}) }),
        augment: { weak: (x, rng) => weakAugment(x, rng), strong: (x, rng) => strongAugment(x, rng) },
      });
      const p = await predictImages(net, data.test, { batchSize: 128 });
      const probs = Array.from(p.probs).filter((_, j) => j % headKeys.length === 0); // the gate's
      const ci = aurocCI(data.testLabels, probs);
      const row = {
        dataset: data.name,
        evalSplit: data.testSplit,
        arm,
        fraction,
        nLabelled: lIdx.length,
        seed,
        steps,
        batchSize: B,
        mu,
        threshold: arm === "sup" || weighting === "softmatch" ? null : Number(args.threshold),
        ...(arm !== "sup" && targets === "soft" ? { targets } : {}),
        ...(arm !== "sup" && lambdaU !== 1 ? { lambdaU } : {}),
        ...(labelledAugment !== "weak" ? { labelledAugment } : {}),
        ...(mixup > 0 ? { mixup } : {}),
        ...(arm !== "sup" && mixupU > 0 ? { unlabelledMixup: mixupU } : {}),
        weighting: arm === "sup" ? null : weighting,
        ...(arm === "sslfm" && args["encoder-dir"] ? { encoderDir: args["encoder-dir"] } : {}),
        pseudoLabels: arm === "sup" ? null : teachers.length > 0 ? "teacher" : pseudoLabels,
        ...(arm !== "sup" && teacherRows.length > 0
          ? {
              round,
              teacher: teacherRows.map((t) => ({
                arm: t.arm,
                seed: t.seed,
                steps: t.steps,
                round: roundOf(t),
                auroc: t.auroc,
              })),
            }
          : {}),
        heads: headsMode,
        encoder: encoderCfg,
        auroc: ci.auroc,
        aurocLower: ci.lower,
        aurocUpper: ci.upper,
        auprc: averagePrecision(data.testLabels, probs),
        maskRate: res.metrics.at(-1)?.maskRate,
        supervisedLoss: res.metrics.at(-1)?.supervisedLoss,
        unsupervisedLoss: res.metrics.at(-1)?.unsupervisedLoss,
        trainSeconds: (performance.now() - tr) / 1000,
        sslSteps: arm === "sslfm" ? sslSteps : 0,
        ...(arm === "sslfm" ? { sslMethod } : {}),
        ...(arm === "sslfm" && sslRecipe ? { sslRecipe } : {}),
        encoderLrScale: arm === "sslfm" ? encoderLrScale : 1,
        sslSeconds: arm === "sslfm" ? sslSeconds : 0,
        backend: backend.detail,
        host: `${cpus()[0]?.model ?? "?"} x${cpus().length}`,
      };
      console.error(JSON.stringify(row));
      await appendFile(out, `${JSON.stringify(row)}\n`);
      if (args["save-model"]) await saveClassifier(net, args["save-model"], { extra: row });
      net.full.dispose();
    }
  }
  pretrained?.dispose();
  for (const t of teachers) t.full.dispose();
  console.error(`total ${((performance.now() - t0) / 1000).toFixed(0)}s`);
}

await main();
