import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { z } from "zod";
import { createRng, type Rng } from "../augment/rng.js";
import { type ImageSet, imageBatch } from "../data/image-set.js";
import { type EncoderConfig, embeddingSize, projectionConfigSchema } from "../models/config.js";
import { buildPredictorHead, buildProjectionHead, buildSimSiamProjector } from "../models/resnet.js";
import { type StepControl, TrainLoop } from "../train/loop.js";
import { AdamW } from "../train/optimizer.js";
import { cosineWithWarmup } from "../train/schedule.js";
import { mixSeed } from "../train/seed.js";
import { seedKernels, trainableVariables } from "../train/weights.js";
import { ntXentLoss } from "./simclr.js";
import { simsiamLoss } from "./simsiam.js";

/** The self-supervised methods behind the Pretrainer interface. */
export const SSL_METHODS = ["simclr", "simsiam"] as const;
export type SslMethodName = (typeof SSL_METHODS)[number];

export const sslConfigSchema = z
  .object({
    method: z.enum(SSL_METHODS).default("simclr"),
    seed: z.number().int().default(0),
    batchSize: z.number().int().min(2).default(64),
    /** NT-Xent temperature (SimCLR only). */
    temperature: z.number().positive().default(0.2),
    lr: z.number().positive().default(1e-3),
    minLr: z.number().min(0).default(0),
    weightDecay: z.number().min(0).default(1e-4),
    warmupEpochs: z.number().min(0).default(1),
    projection: projectionConfigSchema.default({ hidden: 128, out: 64 }),
    /** SimSiam predictor bottleneck width; default a quarter of projection.out (at least 8). */
    predictorHidden: z.number().int().min(4).optional(),
    normalization: z
      .object({ mean: z.number(), std: z.number().positive() })
      .default({ mean: 0.5, std: 0.25 }),
    /** Abort after this many consecutive non-finite losses (each one skips its update). */
    maxNanSteps: z.number().int().min(1).default(5),
    /** Optional cap on steps per epoch (short schedules for benchmarks and tests). */
    stepsPerEpoch: z.number().int().min(1).optional(),
  })
  .strict();
export type SslConfig = z.infer<typeof sslConfigSchema>;
export type SslConfigInput = z.input<typeof sslConfigSchema>;

/** One pretraining stage: a data source and how many epochs to spend on it (e.g. human, then vet). */
export interface PretrainStage {
  name: string;
  data: ImageSet;
  epochs: number;
}

export type ViewFn = (x: tf.Tensor4D, rng: Rng) => tf.Tensor4D;

export interface EpochMetrics {
  kind: "ssl";
  method: string;
  stage: string;
  stageIndex: number;
  epoch: number;
  globalEpoch: number;
  step: number;
  loss: number;
  lr: number;
  nanSkipped: number;
  seconds: number;
}

/** `signal` / `shouldStop` are checked before every step; a stop throws TrainingCancelled. */
export interface PretrainOptions extends StepControl {
  config: SslConfigInput;
  encoder: tfl.LayersModel;
  encoderConfig: EncoderConfig;
  stages: PretrainStage[];
  /** Self-supervised view: random resized crop + photometric jitter etc. (augment/sslView). */
  view: ViewFn;
  /** Where checkpoints/ and metrics.jsonl go; nothing is written without it. */
  runDir?: string;
  /** Continue from runDir/checkpoints/last.ckpt when it exists. */
  resume?: boolean;
  /** Stop (after checkpointing) once this many epochs ran in this call. */
  maxEpochs?: number;
  onEpoch?: (m: EpochMetrics) => void;
  /** Skip kernel re-seeding (e.g. when continuing from a pretrained encoder). */
  keepInitialWeights?: boolean;
}

export interface PretrainResult {
  epochsRun: number;
  finished: boolean;
  lastLoss: number;
  metrics: EpochMetrics[];
}

/** A self-supervised method behind one interface, looked up by name. */
export interface Pretrainer {
  readonly name: string;
  pretrain(opts: PretrainOptions): Promise<PretrainResult>;
}

const pretrainerRegistry = new Map<string, Pretrainer>();

export function registerPretrainer(p: Pretrainer): void {
  pretrainerRegistry.set(p.name, p);
}
export function getPretrainer(name: string): Pretrainer {
  const p = pretrainerRegistry.get(name);
  if (!p)
    throw new Error(`unknown pretrainer "${name}" (known: ${[...pretrainerRegistry.keys()].join(", ")})`);
  return p;
}
export function listPretrainers(): string[] {
  return [...pretrainerRegistry.keys()];
}

export function normalizeImages(x: tf.Tensor4D, norm: { mean: number; std: number }): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(x, norm.mean), norm.std));
}

/** Embedding of a batch: encoder feature map mean-pooled over space. */
export function embed(encoder: tfl.LayersModel, x: tf.Tensor4D, training: boolean): tf.Tensor2D {
  return tf.tidy(() => tf.mean(encoder.apply(x, { training }) as tf.Tensor4D, [1, 2]) as tf.Tensor2D);
}

interface Schedule {
  stageIndex: number;
  epochInStage: number;
}

function stepsPerEpoch(stage: PretrainStage, cfg: SslConfig): number {
  const full = Math.floor(stage.data.count / cfg.batchSize);
  if (full < 1) throw new Error(`stage "${stage.name}" has ${stage.data.count} images, fewer than a batch`);
  return cfg.stepsPerEpoch ? Math.min(cfg.stepsPerEpoch, full) : full;
}

/**
 * What distinguishes one self-supervised method from another: the heads trained beside the encoder
 * and the loss on a batch of paired views. Everything else (views, schedule, stages, checkpoints,
 * resume, NaN guard, cancel) is the shared engine below.
 */
interface SslMethod {
  name: SslMethodName;
  /** Heads in checkpoint order; head i is seeded from mixSeed(seed, 2 + i). */
  heads(cfg: SslConfig, embedDim: number): { prefix: string; model: tfl.LayersModel }[];
  /** Loss of 2n views (rows 0..n-1 view 1, n..2n-1 view 2 of the same images); runs under variableGrads. */
  loss(a: {
    encoder: tfl.LayersModel;
    heads: tfl.LayersModel[];
    views: tf.Tensor4D;
    n: number;
    cfg: SslConfig;
  }): tf.Scalar;
}

function head(heads: tfl.LayersModel[], i: number): tfl.LayersModel {
  const h = heads[i];
  if (!h) throw new Error(`missing head ${i}`);
  return h;
}

/** SimCLR: encoder + projection MLP, NT-Xent over the 2N views (the other N-1 images are negatives). */
const simclrMethod: SslMethod = {
  name: "simclr",
  heads: (cfg, dim) => [{ prefix: "projection", model: buildProjectionHead(dim, cfg.projection) }],
  loss({ encoder, heads, views, n, cfg }) {
    const h = embed(encoder, views, true);
    const z = head(heads, 0).apply(h, { training: true }) as tf.Tensor2D;
    const [z1, z2] = tf.split(z, [n, n], 0) as [tf.Tensor2D, tf.Tensor2D];
    return ntXentLoss(z1, z2, cfg.temperature);
  },
};

/**
 * SimSiam: encoder + projector (z) + predictor (p), negative cosine between each view's p and the
 * other view's z under a stop-gradient, symmetrised. No negatives, no momentum encoder.
 */
const simsiamMethod: SslMethod = {
  name: "simsiam",
  heads: (cfg, dim) => [
    { prefix: "projection", model: buildSimSiamProjector(dim, cfg.projection) },
    {
      prefix: "predictor",
      model: buildPredictorHead(
        cfg.projection.out,
        cfg.predictorHidden ?? Math.max(8, Math.floor(cfg.projection.out / 4)),
      ),
    },
  ],
  loss({ encoder, heads, views, n }) {
    const h = embed(encoder, views, true);
    const z = head(heads, 0).apply(h, { training: true }) as tf.Tensor2D;
    const p = head(heads, 1).apply(z, { training: true }) as tf.Tensor2D;
    const [z1, z2] = tf.split(z, [n, n], 0) as [tf.Tensor2D, tf.Tensor2D];
    const [p1, p2] = tf.split(p, [n, n], 0) as [tf.Tensor2D, tf.Tensor2D];
    return simsiamLoss(p1, p2, z1, z2);
  },
};

/**
 * The pretraining engine behind every method: two views per image, the method's heads and loss,
 * AdamW with a cosine learning rate and linear warm-up over all stages. Checkpoints hold encoder,
 * heads and optimizer state plus the position in the schedule; every random stream is derived from
 * (seed, stage, epoch), so a resumed run continues exactly as an uninterrupted one. A stop request
 * (signal / shouldStop) is honoured before the next step and throws TrainingCancelled.
 */
function createPretrainer(method: SslMethod): Pretrainer {
  const name = method.name;
  return {
    name,
    async pretrain(opts: PretrainOptions): Promise<PretrainResult> {
      const cfg = sslConfigSchema.parse(opts.config);
      if (opts.config.method !== undefined && cfg.method !== name)
        throw new Error(`config asks for ${cfg.method} but this pretrainer is ${name}`);
      const { encoder, stages } = opts;
      if (stages.length === 0) throw new Error("no pretraining stages");
      const heads = method.heads(cfg, embeddingSize(opts.encoderConfig));
      if (!opts.keepInitialWeights) seedKernels(encoder, mixSeed(cfg.seed, 1));
      heads.forEach((h, i) => {
        seedKernels(h.model, mixSeed(cfg.seed, 2 + i));
      });
      const vars = [...trainableVariables(encoder), ...heads.flatMap((h) => trainableVariables(h.model))];
      const opt = new AdamW(vars, { weightDecay: cfg.weightDecay });
      const perEpoch = stages.map((s) => stepsPerEpoch(s, cfg));
      const totalSteps = stages.reduce((acc, s, i) => acc + s.epochs * (perEpoch[i] ?? 0), 0);
      const warmupSteps = Math.round(cfg.warmupEpochs * (perEpoch[0] ?? 0));
      const loop = new TrainLoop({
        runDir: opts.runDir,
        maxEpochs: opts.maxEpochs,
        maxNanSteps: cfg.maxNanSteps,
        lossName: "SSL loss",
        state: { models: [{ prefix: "encoder", model: encoder }, ...heads], opt },
        control: opts,
      });

      let pos: Schedule = { stageIndex: 0, epochInStage: 0 };
      let globalEpoch = 0;
      let lastLoss = Number.NaN;
      const hasNext = (): boolean => {
        while (pos.stageIndex < stages.length && pos.epochInStage >= (stages[pos.stageIndex]?.epochs ?? 0)) {
          pos = { stageIndex: pos.stageIndex + 1, epochInStage: 0 };
        }
        return pos.stageIndex < stages.length;
      };
      let metrics: EpochMetrics[];
      try {
        const meta = await loop.open(opts.resume, (m) => {
          if (m.method !== name) throw new Error(`checkpoint is for ${String(m.method)}, not ${name}`);
        });
        if (meta) {
          pos = meta.pos as Schedule;
          globalEpoch = meta.globalEpoch as number;
        }
        metrics = await loop.run<EpochMetrics>({
          hasNext,
          onEpoch: opts.onEpoch,
          meta: () => ({ method: name, pos, globalEpoch, config: cfg, seed: cfg.seed }),
          runEpoch: async () => {
            const stage = stages[pos.stageIndex] as PretrainStage;
            const t0 = performance.now();
            const rng = createRng(mixSeed(cfg.seed, 100 + pos.stageIndex, pos.epochInStage));
            const order = rng.shuffle(Array.from({ length: stage.data.count }, (_, i) => i));
            let lr = 0;
            const r = await loop.steps({
              epoch: globalEpoch + 1,
              steps: perEpoch[pos.stageIndex] ?? 0,
              step: async (s, globalStep) => {
                lr = cosineWithWarmup(globalStep, {
                  baseLr: cfg.lr,
                  totalSteps,
                  warmupSteps,
                  minLr: cfg.minLr,
                });
                const idx = order.slice(s * cfg.batchSize, (s + 1) * cfg.batchSize);
                const loss = await sslStep({
                  method,
                  encoder,
                  heads: heads.map((h) => h.model),
                  vars,
                  opt,
                  cfg,
                  rng,
                  view: opts.view,
                  lr,
                  idx,
                  data: stage.data,
                });
                return { loss };
              },
            });
            lastLoss = r.counted > 0 ? r.lossSum / r.counted : Number.NaN;
            pos = { stageIndex: pos.stageIndex, epochInStage: pos.epochInStage + 1 };
            globalEpoch += 1;
            return {
              kind: "ssl",
              method: name,
              stage: stage.name,
              stageIndex: pos.stageIndex,
              epoch: pos.epochInStage,
              globalEpoch,
              step: loop.globalStep,
              loss: lastLoss,
              lr,
              nanSkipped: r.nanSkipped,
              seconds: (performance.now() - t0) / 1000,
            };
          },
        });
      } finally {
        opt.dispose();
        for (const h of heads) h.model.dispose();
      }
      return { epochsRun: loop.epochsRun, finished: !hasNext(), lastLoss, metrics };
    },
  };
}

export const simclr: Pretrainer = createPretrainer(simclrMethod);
export const simsiam: Pretrainer = createPretrainer(simsiamMethod);
registerPretrainer(simclr);
registerPretrainer(simsiam);

async function sslStep(a: {
  method: SslMethod;
  encoder: tfl.LayersModel;
  heads: tfl.LayersModel[];
  vars: tf.Variable[];
  opt: AdamW;
  cfg: SslConfig;
  rng: Rng;
  view: ViewFn;
  lr: number;
  idx: number[];
  data: ImageSet;
}): Promise<number> {
  const { encoder, heads, vars, cfg } = a;
  const views = tf.tidy(() => {
    const x = imageBatch(a.data, a.idx);
    const v1 = a.view(x, a.rng);
    const v2 = a.view(x, a.rng);
    return normalizeImages(tf.concat([v1, v2], 0), cfg.normalization);
  });
  const n = a.idx.length;
  const { value, grads } = tf.variableGrads(() => a.method.loss({ encoder, heads, views, n, cfg }), vars);
  const loss = (await value.data())[0] ?? Number.NaN;
  if (Number.isFinite(loss))
    a.opt.apply(
      vars.map((v) => grads[v.name]),
      a.lr,
    );
  tf.dispose([views, value, ...Object.values(grads)]);
  return loss;
}
