import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { createRng, type Rng } from "../augment/rng.js";
import { type ImageSet, imageBatch, type LabelMatrix } from "../data/image-set.js";
import type { ClassifierNet } from "../models/resnet.js";
import { type StepControl, TrainLoop } from "../train/loop.js";
import { AdamW } from "../train/optimizer.js";
import { cosineWithWarmup } from "../train/schedule.js";
import { mixSeed } from "../train/seed.js";
import { seedKernels, trainableVariables, WeightEma } from "../train/weights.js";
import { classifierLogits, maskedHeadMean, sigmoidBce } from "./forward.js";

/**
 * Pseudo-label confidence threshold of a binary head when none is given. FixMatch's 0.95 was set for
 * 10-way softmax; on a sigmoid head it kept 4-9% of the unlabelled knee X-rays at 5% labels and
 * FixMatch barely trained on them. 0.8 (43-47% kept) scored higher in 5 of 6 seed pairs
 * (docs/benchmarks.md, "knee-oa-128 at 64 px").
 */
export const DEFAULT_FIXMATCH_THRESHOLD = 0.8;

export const fitConfigSchema = z
  .object({
    seed: z.number().int().default(0),
    epochs: z.number().int().min(1).default(10),
    /** Labelled batch size; the unlabelled batch is mu times larger. */
    batchSize: z.number().int().min(1).default(32),
    /** Steps per epoch; default: one pass over the labelled set (supervised) or the unlabelled set / mu (FixMatch). */
    stepsPerEpoch: z.number().int().min(1).optional(),
    lr: z.number().positive().default(1e-3),
    minLr: z.number().min(0).default(0),
    warmupEpochs: z.number().min(0).default(0),
    weightDecay: z.number().min(0).default(5e-4),
    /** Scale the learning rate of a pretrained encoder (1 = same as the heads). */
    encoderLrScale: z.number().min(0).max(1).default(1),
    /**
     * Views of the labelled images: "weak" (FixMatch: flip and small translation) or "strong" (the
     * unlabelled stream's strong views). With a few hundred labels a run sees each labelled image
     * hundreds of times, and strong views are a regularizer against learning them by heart.
     */
    labelledAugment: z.enum(["weak", "strong"]).default("weak"),
    /**
     * Mixup of the labelled batch (Zhang et al. 2018, as MixMatch folds it): each image and its
     * labels are mixed with a partner from the same batch, weight lambda ~ Beta(mixup, mixup) taken
     * as max(lambda, 1 - lambda) so the image's own label dominates. 0 = off; a head counts only where
     * both images are labelled.
     */
    mixup: z.number().min(0).default(0),
    fixmatch: z
      .object({
        enabled: z.boolean().default(true),
        mu: z.number().int().min(1).default(2),
        /** Confidence threshold: one number for all heads or per head key. */
        threshold: z
          .union([z.number().min(0.5).max(1), z.record(z.string(), z.number().min(0.5).max(1))])
          .default(DEFAULT_FIXMATCH_THRESHOLD),
        lambdaU: z.number().min(0).default(1),
        /** Align the mean pseudo-label probability of each head to its labelled prevalence. */
        distributionAlignment: z.boolean().default(true),
        daMomentum: z.number().min(0).max(1).default(0.99),
        /**
         * How an unlabelled prediction weighs in the unsupervised loss. "threshold" (FixMatch): 1 at
         * or above the head's threshold, else 0. "softmatch" (SoftMatch, Chen et al. 2023): 1 at or
         * above the running mean confidence of the head, below it a Gaussian in the distance to
         * that mean (width: the running standard deviation / softmatchSigmas); `threshold` is unused.
         */
        weighting: z.enum(["threshold", "softmatch"]).default("threshold"),
        /**
         * Momentum of the running mean and variance of the confidence (softmatch). SoftMatch used
         * 0.999 over a million steps; these runs are thousands of steps long.
         */
        softmatchMomentum: z.number().min(0).max(1).default(0.99),
        /** The Gaussian's width in running standard deviations is 1 / this (softmatch). */
        softmatchSigmas: z.number().positive().default(2),
        /**
         * Which weights predict the pseudo-labels on the weak views: "model" (FixMatch: the live
         * weights, batch statistics of the weak batch) or "ema" (mean teacher: the EMA weights in
         * inference mode; needs `ema.enabled`). A fixed `teacher` network, when given, overrides both.
         */
        pseudoLabels: z.enum(["model", "ema"]).default("model"),
        /**
         * "hard" (FixMatch): the pseudo-label is the rounded (aligned) probability, weighed as
         * `weighting` says. "soft" (distillation): the aligned probability itself is the target of
         * every unlabelled prediction, weight 1, so the ranking among uncertain images is taught
         * too; `weighting` is unused and `threshold` only counts the mask rate. Meant for a
         * trained teacher.
         */
        targets: z.enum(["hard", "soft"]).default("hard"),
        /**
         * Mixup of the unlabelled stream (interpolation consistency, as ICT and MixMatch use it):
         * each strong view that carries a pseudo-label is mixed with another such view of the
         * batch, weight lambda ~ Beta(mixup, mixup) taken as max(lambda, 1 - lambda), and its target
         * is the same mix of the two pseudo-labels (weight: the product of theirs). It asks for a
         * prediction that moves smoothly between images, which suits a finding graded on a scale
         * (osteoarthritis: Kellgren-Lawrence). 0 = off.
         */
        mixup: z.number().min(0).default(0),
      })
      .strict()
      .default({
        enabled: true,
        mu: 2,
        threshold: DEFAULT_FIXMATCH_THRESHOLD,
        lambdaU: 1,
        distributionAlignment: true,
        daMomentum: 0.99,
        weighting: "threshold",
        softmatchMomentum: 0.99,
        softmatchSigmas: 2,
        pseudoLabels: "model",
        targets: "hard",
        mixup: 0,
      }),
    ema: z
      .object({ enabled: z.boolean().default(true), decay: z.number().min(0).max(1).default(0.99) })
      .strict()
      .default({ enabled: true, decay: 0.99 }),
    maxNanSteps: z.number().int().min(1).default(5),
    /**
     * Re-seed every kernel before training. Off when the encoder comes pretrained: then only the
     * heads' kernels are re-seeded, so that the encoder keeps its weights and a run stays reproducible.
     */
    seedInit: z.boolean().default(true),
  })
  .strict();
export type FitConfig = z.infer<typeof fitConfigSchema>;
export type FitConfigInput = z.input<typeof fitConfigSchema>;

export type AugmentFn = (x: tf.Tensor4D, rng: Rng) => tf.Tensor4D;

export interface FitEpochMetrics {
  kind: "fit";
  mode: "fixmatch" | "supervised";
  epoch: number;
  step: number;
  lr: number;
  supervisedLoss: number;
  unsupervisedLoss: number;
  /**
   * Per head key: the fraction of unlabelled predictions at or above the threshold (with soft
   * targets too, though every prediction then weighs 1), or with softmatch weighting the mean
   * weight of an unlabelled prediction.
   */
  maskRate: Record<string, number>;
  /** Distribution-alignment running mean of unlabelled predictions, per head. */
  unlabelledMean: Record<string, number>;
  nanSkipped: number;
  seconds: number;
  eval?: Record<string, unknown>;
}

/** `signal` / `shouldStop` are checked before every step; a stop throws TrainingCancelled. */
export interface FitOptions extends StepControl {
  config: FitConfigInput;
  net: ClassifierNet;
  labelled: { images: ImageSet; labels: LabelMatrix };
  unlabelled?: ImageSet;
  /**
   * A fixed teacher (same heads) that predicts the pseudo-labels on the weak views in inference
   * mode, instead of the model being trained: a self-training round (noisy student) on top of an
   * earlier model. Several teachers (an ensemble, e.g. every earlier round) give the mean of their
   * probabilities. Teachers are not trained or disposed here.
   */
  teacher?: ClassifierNet | ClassifierNet[];
  augment: { weak: AugmentFn; strong: AugmentFn };
  runDir?: string;
  resume?: boolean;
  maxEpochs?: number;
  /** Called after each epoch with EMA weights in place (when EMA is on); its result is logged. */
  evaluate?: (net: ClassifierNet, epoch: number) => Promise<Record<string, unknown>>;
  onEpoch?: (m: FitEpochMetrics) => void;
}

export interface FitResult {
  epochsRun: number;
  finished: boolean;
  metrics: FitEpochMetrics[];
}

/** Per-head thresholds in head order. */
export function headThresholds(threshold: FitConfig["fixmatch"]["threshold"], keys: string[]): number[] {
  if (typeof threshold === "number") return keys.map(() => threshold);
  return keys.map((k) => threshold[k] ?? DEFAULT_FIXMATCH_THRESHOLD);
}

/**
 * Distribution alignment for binary heads: reweights p by target prior / running mean of the
 * model's unlabelled predictions, then renormalizes against the complementary class.
 */
export function alignBinary(p: number, target: number, runningMean: number): number {
  const eps = 1e-6;
  const m = Math.min(1 - eps, Math.max(eps, runningMean));
  const t = Math.min(1 - eps, Math.max(eps, target));
  const a = (p * t) / m;
  const b = ((1 - p) * (1 - t)) / (1 - m);
  return a / (a + b);
}

/** Running mean and variance of the pseudo-label confidence, per head (softmatch weighting). */
export interface ConfidenceStats {
  mean: number[];
  variance: number[];
}

/**
 * One EMA update of the per-head confidence statistics from a batch of confidences (row-major
 * [n, heads]); the batch variance is the unbiased one, as in SoftMatch. `stats` null (the first
 * batch) takes the batch's own statistics: SoftMatch starts from mean 1/C and variance 1, which a
 * run of a few thousand steps would not forget at its momentum of 0.999.
 */
export function updateConfidenceStats(
  stats: ConfidenceStats | null,
  conf: ArrayLike<number>,
  n: number,
  heads: number,
  momentum: number,
): ConfidenceStats | null {
  const K = heads;
  if (n === 0) return stats;
  const mean = new Array<number>(K).fill(0);
  const variance = new Array<number>(K).fill(0);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += conf[i * K + k] ?? 0;
    const m = s / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += ((conf[i * K + k] ?? 0) - m) ** 2;
    const v = n > 1 ? ss / (n - 1) : 0;
    mean[k] = stats ? momentum * (stats.mean[k] ?? m) + (1 - momentum) * m : m;
    variance[k] = stats ? momentum * (stats.variance[k] ?? v) + (1 - momentum) * v : v;
  }
  return { mean, variance };
}

/** SoftMatch's weight of a pseudo-label of confidence `conf`: 1 from the running mean up. */
export function softmatchWeight(conf: number, mean: number, variance: number, sigmas: number): number {
  if (conf >= mean) return 1;
  const v = Math.max(variance, 1e-12) / (sigmas * sigmas);
  return Math.exp(-((conf - mean) ** 2) / (2 * v));
}

function indexStream(n: number, needed: number, rng: Rng): number[] {
  const out: number[] = [];
  const base = Array.from({ length: n }, (_, i) => i);
  while (out.length < needed) out.push(...rng.shuffle(base.slice()));
  return out.slice(0, needed);
}

/**
 * Fine-tuning with FixMatch (or supervised only, same trainer with `fixmatch.enabled=false`).
 * Multi-head binary: the gate and each finding is a sigmoid head; missing labels (NaN) are masked.
 * Per epoch it logs supervised loss, unsupervised loss and per-head mask rate; EMA weights are
 * used for evaluation and for the final model.
 */
export async function fitClassifier(opts: FitOptions): Promise<FitResult> {
  const cfg = fitConfigSchema.parse(opts.config);
  const { net } = opts;
  const keys = net.headKeys;
  const K = keys.length;
  if (opts.labelled.labels.heads.join(",") !== keys.join(",")) {
    throw new Error(`label heads [${opts.labelled.labels.heads}] differ from model heads [${keys}]`);
  }
  const useFixmatch = cfg.fixmatch.enabled && !!opts.unlabelled && opts.unlabelled.count > 0;
  const nL = opts.labelled.images.count;
  if (nL === 0) throw new Error("no labelled images");
  const B = cfg.batchSize;
  const uB = B * cfg.fixmatch.mu;
  const steps =
    cfg.stepsPerEpoch ??
    (useFixmatch && opts.unlabelled
      ? Math.max(1, Math.ceil(opts.unlabelled.count / uB))
      : Math.max(1, Math.ceil(nL / B)));
  const totalSteps = steps * cfg.epochs;
  const warmupSteps = Math.round(cfg.warmupEpochs * steps);
  const thresholds = headThresholds(cfg.fixmatch.threshold, keys);
  const teachers =
    opts.teacher === undefined ? [] : Array.isArray(opts.teacher) ? opts.teacher : [opts.teacher];
  for (const t of teachers) {
    if (t.headKeys.join(",") !== keys.join(",")) {
      throw new Error(`teacher heads [${t.headKeys}] differ from model heads [${keys}]`);
    }
  }
  if (useFixmatch && teachers.length === 0 && cfg.fixmatch.pseudoLabels === "ema" && !cfg.ema.enabled) {
    throw new Error("fixmatch.pseudoLabels 'ema' needs ema.enabled");
  }

  // Labelled prevalence per head: the distribution-alignment target.
  const lv = opts.labelled.labels.values;
  const prevalence = keys.map((_, k) => {
    let pos = 0;
    let cnt = 0;
    for (let i = 0; i < nL; i++) {
      const v = lv[i * K + k];
      if (v === undefined || Number.isNaN(v)) continue;
      cnt++;
      pos += v;
    }
    return cnt > 0 ? pos / cnt : 0.5;
  });

  // Every kernel from the seed, or (a pretrained encoder) the heads' kernels alone: a run from the
  // same encoder and seed starts from the same weights.
  seedKernels(cfg.seedInit ? net.full : net.heads, mixSeed(cfg.seed, 11));
  const vars = trainableVariables(net.full);
  const encoderVarNames = new Set(trainableVariables(net.encoder).map((v) => v.name));
  const lrScales = vars.map((v) => (encoderVarNames.has(v.name) ? cfg.encoderLrScale : 1));
  const opt = new AdamW(vars, { weightDecay: cfg.weightDecay });
  const ema = cfg.ema.enabled ? new WeightEma(net.full, cfg.ema.decay) : null;
  const weakProbs = (x: tf.Tensor4D): Promise<Float32Array> => {
    // The mean sigmoid of the nets (one net: its own probabilities, bit for bit).
    const probs = (nets: ClassifierNet[], training: boolean) => async () => {
      const p = tf.tidy(() => {
        const each = nets.map((n) => tf.sigmoid(classifierLogits(n, x, { training })));
        return each.length === 1 ? each[0]! : tf.addN(each).div(each.length);
      });
      try {
        return (await p.data()) as Float32Array;
      } finally {
        p.dispose();
      }
    };
    if (teachers.length > 0) return probs(teachers, false)();
    if (cfg.fixmatch.pseudoLabels === "ema" && ema) return ema.withEma(probs([net], false));
    return probs([net], true)();
  };
  let runningMean = prevalence.slice();
  let confStats: ConfidenceStats | null = null;
  let epoch = 0;
  const loop = new TrainLoop({
    runDir: opts.runDir,
    maxEpochs: opts.maxEpochs,
    maxNanSteps: cfg.maxNanSteps,
    lossName: "loss",
    state: {
      models: [{ prefix: "model", model: net.full }],
      opt,
      ...(ema
        ? {
            extra: { prefix: "ema", values: () => ema.values, restore: (v: tf.Tensor[]) => ema.setValues(v) },
          }
        : {}),
    },
    control: opts,
  });

  let metrics: FitEpochMetrics[];
  try {
    const meta = await loop.open(opts.resume);
    if (meta) {
      epoch = meta.epoch as number;
      runningMean = meta.runningMean as number[];
      confStats = (meta.confStats as ConfidenceStats | undefined) ?? null;
    }
    metrics = await loop.run<FitEpochMetrics>({
      hasNext: () => epoch < cfg.epochs,
      onEpoch: opts.onEpoch,
      meta: () => ({ kind: "fit", epoch, runningMean, confStats, config: cfg }),
      runEpoch: async () => {
        const t0 = performance.now();
        const rng = createRng(mixSeed(cfg.seed, 200, epoch));
        const lIdx = indexStream(nL, steps * B, rng);
        const uIdx =
          useFixmatch && opts.unlabelled ? indexStream(opts.unlabelled.count, steps * uB, rng) : [];
        let supSum = 0;
        let unsupSum = 0;
        const maskSum = new Array<number>(K).fill(0);
        let lr = 0;
        const r = await loop.steps({
          epoch: epoch + 1,
          steps,
          step: async (s, globalStep) => {
            lr = cosineWithWarmup(globalStep, { baseLr: cfg.lr, totalSteps, warmupSteps, minLr: cfg.minLr });
            const res = await trainStep({
              net,
              vars,
              opt,
              lr,
              lrScales,
              rng,
              augment: opts.augment,
              weakProbs,
              labelled: opts.labelled,
              labelledAugment: cfg.labelledAugment,
              mixup: cfg.mixup,
              lBatch: lIdx.slice(s * B, (s + 1) * B),
              unlabelled: useFixmatch ? opts.unlabelled : undefined,
              uBatch: uIdx.slice(s * uB, (s + 1) * uB),
              thresholds,
              lambdaU: cfg.fixmatch.lambdaU,
              da: cfg.fixmatch.distributionAlignment
                ? { target: prevalence, runningMean, momentum: cfg.fixmatch.daMomentum }
                : null,
              weighting:
                cfg.fixmatch.weighting === "softmatch" && cfg.fixmatch.targets === "hard"
                  ? {
                      stats: confStats,
                      momentum: cfg.fixmatch.softmatchMomentum,
                      sigmas: cfg.fixmatch.softmatchSigmas,
                    }
                  : null,
              softTargets: cfg.fixmatch.targets === "soft",
              unlabelledMixup: cfg.fixmatch.mixup,
              dropoutSeed: mixSeed(cfg.seed, 300, globalStep),
            });
            return { ...res, loss: res.total };
          },
          onFinite: (res) => {
            ema?.update();
            if (res.runningMean) runningMean = res.runningMean;
            if (res.confStats) confStats = res.confStats;
            supSum += res.supervised;
            unsupSum += res.unsupervised;
            res.maskRate.forEach((m, k) => {
              maskSum[k] = (maskSum[k] ?? 0) + m;
            });
          },
        });
        const counted = r.counted;
        epoch += 1;
        const m: FitEpochMetrics = {
          kind: "fit",
          mode: useFixmatch ? "fixmatch" : "supervised",
          epoch,
          step: loop.globalStep,
          lr,
          supervisedLoss: counted ? supSum / counted : Number.NaN,
          unsupervisedLoss: counted ? unsupSum / counted : Number.NaN,
          maskRate: Object.fromEntries(keys.map((k, i) => [k, counted ? (maskSum[i] ?? 0) / counted : 0])),
          unlabelledMean: Object.fromEntries(keys.map((k, i) => [k, runningMean[i] ?? 0])),
          nanSkipped: r.nanSkipped,
          seconds: 0,
        };
        if (opts.evaluate) {
          const evaluate = opts.evaluate;
          const e = epoch;
          m.eval = ema ? await ema.withEma(() => evaluate(net, e)) : await evaluate(net, e);
        }
        m.seconds = (performance.now() - t0) / 1000;
        return m;
      },
    });
    // The model that leaves the trainer carries the EMA weights (what evaluation saw).
    if (epoch >= cfg.epochs) ema?.copyToModel();
  } finally {
    opt.dispose();
    ema?.dispose();
  }
  return { epochsRun: loop.epochsRun, finished: epoch >= cfg.epochs, metrics };
}

/**
 * A Beta(a, b) draw from two Gamma draws (Marsaglia and Tsang; shape < 1 boosted by U^(1/shape)).
 */
export function sampleBeta(rng: Rng, a: number, b: number): number {
  const gamma = (shape: number): number => {
    if (shape < 1) return gamma(shape + 1) * (1 - rng.next()) ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = rng.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - rng.next();
      if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
    }
  };
  const x = gamma(a);
  const yv = gamma(b);
  return x + yv > 0 ? x / (x + yv) : 0.5;
}

/**
 * Mixup of a labelled batch: row i becomes lam[i] * row i + (1 - lam[i]) * row perm[i], for the
 * images and the labels; a label counts (mask 1) only where both rows have it.
 */
export function mixupBatch(
  x: tf.Tensor4D,
  labels: { y: Float32Array; mask: Float32Array; heads: number },
  lam: number[],
  perm: number[],
): { x: tf.Tensor4D; y: Float32Array; mask: Float32Array } {
  const n = x.shape[0];
  const K = labels.heads;
  if (lam.length !== n || perm.length !== n)
    throw new Error("mixupBatch: lam and perm need one entry per image");
  const mixedX = tf.tidy(() => {
    const l = tf.tensor4d(lam, [n, 1, 1, 1]);
    const partner = tf.gather(x, tf.tensor1d(perm, "int32"));
    return tf.add(tf.mul(x, l), tf.mul(partner, tf.sub(1, l))) as tf.Tensor4D;
  });
  const y = new Float32Array(n * K);
  const mask = new Float32Array(n * K);
  for (let i = 0; i < n; i++) {
    const j = perm[i] ?? i;
    const l = lam[i] ?? 1;
    for (let k = 0; k < K; k++) {
      const both = (labels.mask[i * K + k] ?? 0) * (labels.mask[j * K + k] ?? 0);
      mask[i * K + k] = both;
      y[i * K + k] = both ? l * (labels.y[i * K + k] ?? 0) + (1 - l) * (labels.y[j * K + k] ?? 0) : 0;
    }
  }
  return { x: mixedX, y, mask };
}

/**
 * Mixup among the pseudo-labelled rows of an unlabelled batch: the rows with any head's weight
 * above 0 are paired by a shuffle among themselves (the others stay as they are, weight 0), and
 * `mixupBatch` mixes their images, targets and weights (the product of the pair's). Null when
 * fewer than two rows carry a pseudo-label (nothing to mix; no random draws are taken then).
 */
export function mixPseudoLabelled(
  x: tf.Tensor4D,
  y: Float32Array,
  weight: Float32Array,
  heads: number,
  rng: Rng,
  alpha: number,
): { x: tf.Tensor4D; y: Float32Array; mask: Float32Array } | null {
  const n = x.shape[0];
  const kept: number[] = [];
  for (let i = 0; i < n; i++) {
    let w = 0;
    for (let k = 0; k < heads; k++) w += weight[i * heads + k] ?? 0;
    if (w > 0) kept.push(i);
  }
  if (kept.length < 2) return null;
  const partners = rng.shuffle(kept.slice());
  const perm = Array.from({ length: n }, (_, i) => i);
  kept.forEach((i, j) => {
    perm[i] = partners[j] ?? i;
  });
  const lam = Array.from({ length: n }, () => 1);
  for (const i of kept) {
    const l = sampleBeta(rng, alpha, alpha);
    lam[i] = Math.max(l, 1 - l);
  }
  return mixupBatch(x, { y, mask: weight, heads }, lam, perm);
}

interface StepResult {
  total: number;
  supervised: number;
  unsupervised: number;
  maskRate: number[];
  runningMean: number[] | null;
  confStats: ConfidenceStats | null;
}

async function trainStep(a: {
  net: ClassifierNet;
  vars: tf.Variable[];
  opt: AdamW;
  lr: number;
  /** Per variable of `vars`: multiplies the learning rate (the encoder's encoderLrScale). */
  lrScales: number[];
  rng: Rng;
  augment: { weak: AugmentFn; strong: AugmentFn };
  /** Pseudo-label probabilities [n * heads] of a weak batch (live model, EMA or teacher). */
  weakProbs: (x: tf.Tensor4D) => Promise<Float32Array>;
  labelled: { images: ImageSet; labels: LabelMatrix };
  labelledAugment: "weak" | "strong";
  /** Beta(mixup, mixup) mixup of the labelled batch; 0 = off. */
  mixup: number;
  lBatch: number[];
  unlabelled: ImageSet | undefined;
  uBatch: number[];
  thresholds: number[];
  lambdaU: number;
  da: { target: number[]; runningMean: number[]; momentum: number } | null;
  /** SoftMatch weighting instead of the hard threshold (hard targets only). */
  weighting: { stats: ConfidenceStats | null; momentum: number; sigmas: number } | null;
  /** The aligned probabilities themselves are the targets, every one weighing 1. */
  softTargets: boolean;
  /** Beta(a, a) mixup among the strong views that carry a pseudo-label; 0 = off. */
  unlabelledMixup: number;
  dropoutSeed: number;
}): Promise<StepResult> {
  const { net } = a;
  const K = net.headKeys.length;
  const nL = a.lBatch.length;
  // Labels and masks for the labelled batch (NaN = missing).
  let y: Float32Array = new Float32Array(nL * K);
  let mask: Float32Array = new Float32Array(nL * K);
  a.lBatch.forEach((idx, i) => {
    for (let k = 0; k < K; k++) {
      const v = a.labelled.labels.values[idx * K + k];
      if (v === undefined || Number.isNaN(v)) continue;
      y[i * K + k] = v;
      mask[i * K + k] = 1;
    }
  });
  const labelledView = a.labelledAugment === "strong" ? a.augment.strong : a.augment.weak;
  let xl = tf.tidy(() => labelledView(imageBatch(a.labelled.images, a.lBatch), a.rng));
  if (a.mixup > 0 && nL > 1) {
    const perm = a.rng.shuffle(Array.from({ length: nL }, (_, i) => i));
    const lam = Array.from({ length: nL }, () => {
      const l = sampleBeta(a.rng, a.mixup, a.mixup);
      return Math.max(l, 1 - l);
    });
    const mixed = mixupBatch(xl, { y, mask, heads: K }, lam, perm);
    xl.dispose();
    xl = mixed.x;
    y = mixed.y;
    mask = mixed.mask;
  }
  const counts = new Array<number>(K).fill(0);
  for (let i = 0; i < nL; i++)
    for (let k = 0; k < K; k++) counts[k] = (counts[k] ?? 0) + (mask[i * K + k] ?? 0);

  let strong: tf.Tensor4D | null = null;
  let pseudo: tf.Tensor2D | null = null;
  let pmask: tf.Tensor2D | null = null;
  const maskRate = new Array<number>(K).fill(0);
  let runningMean: number[] | null = null;
  let confStats: ConfidenceStats | null = null;
  const nU = a.unlabelled ? a.uBatch.length : 0;
  if (a.unlabelled && nU > 0) {
    const u = imageBatch(a.unlabelled, a.uBatch);
    const weakU = tf.tidy(() => a.augment.weak(u, a.rng));
    strong = tf.tidy(() => a.augment.strong(u, a.rng));
    u.dispose();
    const p = await a.weakProbs(weakU);
    weakU.dispose();
    let q = p;
    if (a.da) {
      const batchMean = new Array<number>(K).fill(0);
      for (let i = 0; i < nU; i++)
        for (let k = 0; k < K; k++) batchMean[k] = (batchMean[k] ?? 0) + (p[i * K + k] ?? 0) / nU;
      runningMean = a.da.runningMean.map(
        (m, k) => a.da!.momentum * m + (1 - a.da!.momentum) * (batchMean[k] ?? 0),
      );
      q = new Float32Array(p.length);
      for (let i = 0; i < nU; i++)
        for (let k = 0; k < K; k++) {
          q[i * K + k] = alignBinary(p[i * K + k] ?? 0, a.da.target[k] ?? 0.5, runningMean[k] ?? 0.5);
        }
    }
    const yh = new Float32Array(nU * K);
    const mk = new Float32Array(nU * K);
    const conf = new Float32Array(nU * K);
    for (let i = 0; i < q.length; i++) {
      const v = q[i] ?? 0.5;
      yh[i] = a.softTargets ? v : v >= 0.5 ? 1 : 0;
      conf[i] = Math.max(v, 1 - v);
    }
    if (a.weighting) confStats = updateConfidenceStats(a.weighting.stats, conf, nU, K, a.weighting.momentum);
    for (let i = 0; i < nU; i++)
      for (let k = 0; k < K; k++) {
        const c = conf[i * K + k] ?? 0.5;
        const passes = c >= (a.thresholds[k] ?? DEFAULT_FIXMATCH_THRESHOLD) ? 1 : 0;
        const w =
          a.weighting && confStats
            ? softmatchWeight(c, confStats.mean[k] ?? 0.5, confStats.variance[k] ?? 1, a.weighting.sigmas)
            : passes;
        mk[i * K + k] = a.softTargets ? 1 : w;
        maskRate[k] = (maskRate[k] ?? 0) + w / nU;
      }
    let yu: Float32Array = yh;
    let wu: Float32Array = mk;
    if (a.unlabelledMixup > 0) {
      const mixed = mixPseudoLabelled(strong, yu, wu, K, a.rng, a.unlabelledMixup);
      if (mixed) {
        strong.dispose();
        strong = mixed.x;
        yu = mixed.y;
        wu = mixed.mask;
      }
    }
    pseudo = tf.tensor2d(yu, [nU, K]);
    pmask = tf.tensor2d(wu, [nU, K]);
  }

  const yT = tf.tensor2d(y, [nL, K]);
  const mT = tf.tensor2d(mask, [nL, K]);
  let supT: tf.Tensor | null = null;
  let unsT: tf.Tensor | null = null;
  const { value, grads } = tf.variableGrads(() => {
    const input = strong ? tf.concat([xl, strong], 0) : xl;
    const logits = classifierLogits(net, input, { training: true, dropoutSeed: a.dropoutSeed });
    const [ll, lu] = strong ? tf.split(logits, [nL, nU], 0) : [logits, null];
    const ls = maskedHeadMean(sigmoidBce(ll as tf.Tensor, yT), mT, counts);
    supT = tf.keep(ls);
    if (!lu || !pseudo || !pmask) return ls;
    // FixMatch: mean over the whole unlabelled batch (masked entries contribute 0), per head.
    const lun = tf.mean(tf.mean(tf.mul(sigmoidBce(lu, pseudo), pmask), 0));
    unsT = tf.keep(lun);
    return tf.add(ls, tf.mul(lun, a.lambdaU)) as tf.Scalar;
  }, a.vars);
  const total = (await value.data())[0] ?? Number.NaN;
  if (Number.isFinite(total)) {
    a.opt.apply(
      a.vars.map((v) => grads[v.name]),
      a.lr,
      a.lrScales,
    );
  }
  const supVal = supT ? ((await (supT as tf.Tensor).data())[0] ?? Number.NaN) : Number.NaN;
  const unsupVal = unsT ? ((await (unsT as tf.Tensor).data())[0] ?? 0) : 0;
  tf.dispose([value, ...Object.values(grads), xl, yT, mT]);
  if (supT) (supT as tf.Tensor).dispose();
  if (unsT) (unsT as tf.Tensor).dispose();
  if (strong) strong.dispose();
  if (pseudo) pseudo.dispose();
  if (pmask) pmask.dispose();
  return { total, supervised: supVal, unsupervised: unsupVal, maskRate, runningMean, confStats };
}
