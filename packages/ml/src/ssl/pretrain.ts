import { existsSync } from "node:fs";
import { appendFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { z } from "zod";
import { createRng, type Rng } from "../augment/rng.js";
import { type ImageSet, imageBatch } from "../data/image-set.js";
import { type EncoderConfig, embeddingSize, projectionConfigSchema } from "../models/config.js";
import { buildProjectionHead } from "../models/resnet.js";
import {
  type ArrayEntry,
  loadCheckpoint,
  modelArrays,
  restoreModelArrays,
  saveCheckpoint,
} from "../train/checkpoint.js";
import { AdamW } from "../train/optimizer.js";
import { cosineWithWarmup } from "../train/schedule.js";
import { mixSeed } from "../train/seed.js";
import { seedKernels, trainableVariables } from "../train/weights.js";
import { ntXentLoss } from "./simclr.js";

export const sslConfigSchema = z
  .object({
    method: z.string().default("simclr"),
    seed: z.number().int().default(0),
    batchSize: z.number().int().min(2).default(64),
    temperature: z.number().positive().default(0.2),
    lr: z.number().positive().default(1e-3),
    minLr: z.number().min(0).default(0),
    weightDecay: z.number().min(0).default(1e-4),
    warmupEpochs: z.number().min(0).default(1),
    projection: projectionConfigSchema.default({ hidden: 128, out: 64 }),
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

export interface PretrainOptions {
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
 * Contrastive pretraining (SimCLR): two views per image, encoder + projection MLP, NT-Xent. The
 * learning rate follows a cosine with linear warm-up over all stages. Checkpoints hold encoder,
 * projection and optimizer state plus the position in the schedule; every random stream is derived
 * from (seed, stage, epoch), so a resumed run continues exactly as an uninterrupted one.
 */
export const simclr: Pretrainer = {
  name: "simclr",
  async pretrain(opts: PretrainOptions): Promise<PretrainResult> {
    const cfg = sslConfigSchema.parse(opts.config);
    const { encoder, stages } = opts;
    if (stages.length === 0) throw new Error("no pretraining stages");
    const projection = buildProjectionHead(embeddingSize(opts.encoderConfig), cfg.projection);
    if (!opts.keepInitialWeights) seedKernels(encoder, mixSeed(cfg.seed, 1));
    seedKernels(projection, mixSeed(cfg.seed, 2));
    const vars = [...trainableVariables(encoder), ...trainableVariables(projection)];
    const opt = new AdamW(vars, { weightDecay: cfg.weightDecay });
    const perEpoch = stages.map((s) => stepsPerEpoch(s, cfg));
    const totalSteps = stages.reduce((acc, s, i) => acc + s.epochs * (perEpoch[i] ?? 0), 0);
    const warmupSteps = Math.round(cfg.warmupEpochs * (perEpoch[0] ?? 0));

    const ckptDir = opts.runDir ? join(opts.runDir, "checkpoints") : undefined;
    const ckptPath = ckptDir ? join(ckptDir, "last.ckpt") : undefined;
    let pos: Schedule = { stageIndex: 0, epochInStage: 0 };
    let globalStep = 0;
    let globalEpoch = 0;
    if (opts.resume && ckptPath && existsSync(ckptPath)) {
      const ck = await loadCheckpoint(ckptPath);
      const meta = ck.meta as {
        method: string;
        pos: Schedule;
        globalStep: number;
        globalEpoch: number;
        optStep: number;
      };
      if (meta.method !== "simclr") throw new Error(`checkpoint is for ${meta.method}, not simclr`);
      restoreModelArrays(encoder, "encoder", ck.arrays, tf);
      restoreModelArrays(projection, "projection", ck.arrays, tf);
      opt.setState({
        step: meta.optStep,
        slots: vars.map((_, i) => {
          const m = ck.arrays.get(`opt/m/${i}`);
          const v = ck.arrays.get(`opt/v/${i}`);
          if (!m || !v) throw new Error(`checkpoint lacks optimizer slot ${i}`);
          return { m: m.data, v: v.data };
        }),
      });
      pos = meta.pos;
      globalStep = meta.globalStep;
      globalEpoch = meta.globalEpoch;
    }
    if (opts.runDir) await mkdir(opts.runDir, { recursive: true });

    const metrics: EpochMetrics[] = [];
    let epochsRun = 0;
    let lastLoss = Number.NaN;
    let nanStreak = 0;
    try {
      while (pos.stageIndex < stages.length) {
        const stage = stages[pos.stageIndex] as PretrainStage;
        if (pos.epochInStage >= stage.epochs) {
          pos = { stageIndex: pos.stageIndex + 1, epochInStage: 0 };
          continue;
        }
        if (opts.maxEpochs !== undefined && epochsRun >= opts.maxEpochs) break;
        const t0 = performance.now();
        const rng = createRng(mixSeed(cfg.seed, 100 + pos.stageIndex, pos.epochInStage));
        const order = rng.shuffle(Array.from({ length: stage.data.count }, (_, i) => i));
        const nSteps = perEpoch[pos.stageIndex] ?? 0;
        let lossSum = 0;
        let lossCount = 0;
        let nanSkipped = 0;
        let lr = 0;
        for (let s = 0; s < nSteps; s++) {
          lr = cosineWithWarmup(globalStep, { baseLr: cfg.lr, totalSteps, warmupSteps, minLr: cfg.minLr });
          const idx = order.slice(s * cfg.batchSize, (s + 1) * cfg.batchSize);
          const loss = await simclrStep({
            encoder,
            projection,
            vars,
            opt,
            cfg,
            rng,
            view: opts.view,
            lr,
            idx,
            data: stage.data,
          });
          globalStep += 1;
          if (!Number.isFinite(loss)) {
            nanSkipped += 1;
            nanStreak += 1;
            if (nanStreak >= cfg.maxNanSteps)
              throw new Error(`SSL loss non-finite for ${nanStreak} steps in a row`);
            continue;
          }
          nanStreak = 0;
          lossSum += loss;
          lossCount += 1;
        }
        lastLoss = lossCount > 0 ? lossSum / lossCount : Number.NaN;
        pos = { stageIndex: pos.stageIndex, epochInStage: pos.epochInStage + 1 };
        globalEpoch += 1;
        epochsRun += 1;
        const m: EpochMetrics = {
          kind: "ssl",
          method: "simclr",
          stage: stage.name,
          stageIndex: pos.stageIndex,
          epoch: pos.epochInStage,
          globalEpoch,
          step: globalStep,
          loss: lastLoss,
          lr,
          nanSkipped,
          seconds: (performance.now() - t0) / 1000,
        };
        metrics.push(m);
        opts.onEpoch?.(m);
        if (opts.runDir && ckptPath) {
          await appendFile(join(opts.runDir, "metrics.jsonl"), `${JSON.stringify(m)}\n`);
          const arrays = new Map<string, ArrayEntry>();
          await modelArrays(encoder, "encoder", arrays);
          await modelArrays(projection, "projection", arrays);
          const st = await opt.getState();
          st.slots.forEach((sl, i) => {
            const shape = vars[i]?.shape.slice() ?? [];
            arrays.set(`opt/m/${i}`, { shape, data: sl.m });
            arrays.set(`opt/v/${i}`, { shape, data: sl.v });
          });
          await saveCheckpoint(ckptPath, {
            meta: {
              method: "simclr",
              pos,
              globalStep,
              globalEpoch,
              optStep: st.step,
              config: cfg,
              seed: cfg.seed,
            },
            arrays,
          });
        }
      }
    } finally {
      opt.dispose();
      projection.dispose();
    }
    while (pos.stageIndex < stages.length && pos.epochInStage >= (stages[pos.stageIndex]?.epochs ?? 0)) {
      pos = { stageIndex: pos.stageIndex + 1, epochInStage: 0 };
    }
    const finished = pos.stageIndex >= stages.length;
    return { epochsRun, finished, lastLoss, metrics };
  },
};
registerPretrainer(simclr);

async function simclrStep(a: {
  encoder: tfl.LayersModel;
  projection: tfl.LayersModel;
  vars: tf.Variable[];
  opt: AdamW;
  cfg: SslConfig;
  rng: Rng;
  view: ViewFn;
  lr: number;
  idx: number[];
  data: ImageSet;
}): Promise<number> {
  const { encoder, projection, vars, cfg } = a;
  const views = tf.tidy(() => {
    const x = imageBatch(a.data, a.idx);
    const v1 = a.view(x, a.rng);
    const v2 = a.view(x, a.rng);
    return normalizeImages(tf.concat([v1, v2], 0), cfg.normalization);
  });
  const n = a.idx.length;
  const { value, grads } = tf.variableGrads(() => {
    const h = embed(encoder, views, true);
    const z = projection.apply(h, { training: true }) as tf.Tensor2D;
    const [z1, z2] = tf.split(z, [n, n], 0) as [tf.Tensor2D, tf.Tensor2D];
    return ntXentLoss(z1, z2, cfg.temperature);
  }, vars);
  const loss = (await value.data())[0] ?? Number.NaN;
  if (Number.isFinite(loss))
    a.opt.apply(
      vars.map((v) => grads[v.name]),
      a.lr,
    );
  tf.dispose([views, value, ...Object.values(grads)]);
  return loss;
}
