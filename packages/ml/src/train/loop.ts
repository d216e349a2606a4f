import { existsSync } from "node:fs";
import { appendFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import {
  type ArrayEntry,
  type Checkpoint,
  loadCheckpoint,
  modelArrays,
  restoreModelArrays,
  saveCheckpoint,
} from "./checkpoint.js";
import type { AdamW } from "./optimizer.js";

/**
 * The one training loop under SimCLR, SimSiam and FixMatch: the epoch driver (budget per call,
 * metrics.jsonl, a checkpoint after every epoch, exact resume), the NaN guard, and the step-level
 * cancel check and progress callback.
 */

/** Thrown when a run is stopped through `signal` or `shouldStop`; no final model is written. */
export class TrainingCancelled extends Error {
  readonly epoch: number;
  readonly step: number;
  constructor(at: { epoch: number; step: number }) {
    super(`training cancelled before step ${at.step + 1} (epoch ${at.epoch})`);
    this.name = "TrainingCancelled";
    this.epoch = at.epoch;
    this.step = at.step;
  }
}

/** Polled before every step; true stops the run with TrainingCancelled. */
export type StopCheck = () => boolean | Promise<boolean>;

export interface StepProgress {
  /** 1-based epoch being run (counted over the whole schedule, all stages). */
  epoch: number;
  /** 1-based step within this epoch, and the epoch's step count. */
  stepInEpoch: number;
  stepsInEpoch: number;
  /** Steps done over the whole schedule (after this one). */
  step: number;
  /** This step's loss (NaN when it was skipped by the NaN guard). */
  loss: number;
}

/** Step-level control shared by the trainers' options. */
export interface StepControl {
  /** Aborting it stops the run before its next step. */
  signal?: AbortSignal;
  /** Checked before every step (alongside `signal`); true stops the run before that step. */
  shouldStop?: StopCheck;
  /** Called after every step. */
  onStep?: (p: StepProgress) => void | Promise<void>;
}

/** What a checkpoint holds beside its metadata: model weights, optimizer moments, extra variables. */
export interface TrainState {
  models: { prefix: string; model: tfl.LayersModel }[];
  opt: AdamW;
  /** Further tensors to persist in order (EMA shadow weights), stored as `${prefix}/${i}`. */
  extra?: { prefix: string; values: () => tf.Tensor[]; restore: (values: tf.Tensor[]) => void };
}

export async function captureState(state: TrainState): Promise<Map<string, ArrayEntry>> {
  const arrays = new Map<string, ArrayEntry>();
  for (const { prefix, model } of state.models) await modelArrays(model, prefix, arrays);
  if (state.extra) {
    const vals = state.extra.values();
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i] as tf.Tensor;
      arrays.set(`${state.extra.prefix}/${i}`, {
        shape: v.shape.slice(),
        data: (await v.data()) as Float32Array,
      });
    }
  }
  const st = await state.opt.getState();
  st.slots.forEach((sl, i) => {
    const shape = state.opt.vars[i]?.shape.slice() ?? [];
    arrays.set(`opt/m/${i}`, { shape, data: sl.m });
    arrays.set(`opt/v/${i}`, { shape, data: sl.v });
  });
  return arrays;
}

export function restoreState(state: TrainState, ck: Checkpoint): void {
  for (const { prefix, model } of state.models) restoreModelArrays(model, prefix, ck.arrays, tf);
  if (state.extra) {
    const { prefix } = state.extra;
    const vals = state.extra.values().map((v, i) => {
      const a = ck.arrays.get(`${prefix}/${i}`);
      if (!a) throw new Error(`checkpoint lacks ${prefix}/${i}`);
      return tf.tensor(a.data, v.shape);
    });
    state.extra.restore(vals);
    tf.dispose(vals);
  }
  const optStep = ck.meta.optStep;
  if (typeof optStep !== "number") throw new Error("checkpoint lacks optStep");
  state.opt.setState({
    step: optStep,
    slots: state.opt.vars.map((_, i) => {
      const m = ck.arrays.get(`opt/m/${i}`);
      const v = ck.arrays.get(`opt/v/${i}`);
      if (!m || !v) throw new Error(`checkpoint lacks optimizer slot ${i}`);
      return { m: m.data, v: v.data };
    }),
  });
}

/** Lets timers and I/O callbacks (heartbeats, cancel flags) run between steps. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === "function") setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}

export interface TrainLoopOptions {
  /** Where checkpoints/last.ckpt and metrics.jsonl go; nothing is written without it. */
  runDir?: string | undefined;
  /** Stop (after checkpointing) once this many epochs ran in this call. */
  maxEpochs?: number | undefined;
  /** Abort after this many consecutive non-finite losses (each one skips its update). */
  maxNanSteps: number;
  /** Names the loss in the NaN-guard error ("SSL loss", "loss"). */
  lossName: string;
  state: TrainState;
  control?: StepControl | undefined;
}

export interface EpochDriver<M> {
  /** Advances past finished parts of the schedule; false when nothing is left to run. */
  hasNext: () => boolean;
  /** Runs one epoch (through `loop.steps`) and returns its metrics. */
  runEpoch: () => Promise<M>;
  onEpoch?: ((m: M) => void) | undefined;
  /** The schedule position etc. for the checkpoint; globalStep and optStep are added. */
  meta: () => Record<string, unknown>;
}

/**
 * Epoch driver + step runner. `globalStep` and the NaN streak live here; the method owns its
 * schedule position (returned by `meta` and read back from `open`).
 */
export class TrainLoop {
  globalStep = 0;
  epochsRun = 0;
  private nanStreak = 0;
  private readonly ckptPath: string | undefined;

  constructor(private readonly o: TrainLoopOptions) {
    this.ckptPath = o.runDir ? join(o.runDir, "checkpoints", "last.ckpt") : undefined;
  }

  /**
   * With `resume` and an existing checkpoint: `check` validates its metadata, then models,
   * optimizer and extra state are restored and the metadata is returned. Otherwise null.
   */
  async open(
    resume: boolean | undefined,
    check?: (meta: Record<string, unknown>) => void,
  ): Promise<Record<string, unknown> | null> {
    let meta: Record<string, unknown> | null = null;
    if (resume && this.ckptPath && existsSync(this.ckptPath)) {
      const ck = await loadCheckpoint(this.ckptPath);
      check?.(ck.meta);
      restoreState(this.o.state, ck);
      const gs = ck.meta.globalStep;
      if (typeof gs !== "number") throw new Error("checkpoint lacks globalStep");
      this.globalStep = gs;
      meta = ck.meta;
    }
    if (this.o.runDir) await mkdir(this.o.runDir, { recursive: true });
    return meta;
  }

  /** Runs epochs until the schedule ends or this call's budget (maxEpochs) is spent. */
  async run<M extends object>(d: EpochDriver<M>): Promise<M[]> {
    const out: M[] = [];
    while (d.hasNext()) {
      if (this.o.maxEpochs !== undefined && this.epochsRun >= this.o.maxEpochs) break;
      const m = await d.runEpoch();
      this.epochsRun += 1;
      out.push(m);
      d.onEpoch?.(m);
      await this.save(m, d.meta());
    }
    return out;
  }

  /**
   * Runs `steps` steps of one epoch. Before each: yield to the event loop, then the cancel check.
   * After each: the NaN guard (a non-finite loss counts as skipped; `maxNanSteps` in a row throws),
   * `onFinite` for counted steps, and `onStep`.
   */
  async steps<R extends { loss: number }>(a: {
    epoch: number;
    steps: number;
    step: (s: number, globalStep: number) => Promise<R>;
    onFinite?: (r: R) => void;
  }): Promise<{ lossSum: number; counted: number; nanSkipped: number }> {
    let lossSum = 0;
    let counted = 0;
    let nanSkipped = 0;
    const control = this.o.control;
    for (let s = 0; s < a.steps; s++) {
      await yieldToEventLoop();
      if (control && (control.signal?.aborted || (control.shouldStop && (await control.shouldStop())))) {
        throw new TrainingCancelled({ epoch: a.epoch, step: this.globalStep });
      }
      const r = await a.step(s, this.globalStep);
      this.globalStep += 1;
      if (Number.isFinite(r.loss)) {
        this.nanStreak = 0;
        a.onFinite?.(r);
        lossSum += r.loss;
        counted += 1;
      } else {
        nanSkipped += 1;
        this.nanStreak += 1;
        if (this.nanStreak >= this.o.maxNanSteps)
          throw new Error(`${this.o.lossName} non-finite for ${this.nanStreak} steps in a row`);
      }
      await control?.onStep?.({
        epoch: a.epoch,
        stepInEpoch: s + 1,
        stepsInEpoch: a.steps,
        step: this.globalStep,
        loss: r.loss,
      });
    }
    return { lossSum, counted, nanSkipped };
  }

  /** Appends the epoch's metrics to metrics.jsonl and writes the checkpoint (with runDir only). */
  private async save(metrics: object, meta: Record<string, unknown>): Promise<void> {
    if (!this.o.runDir || !this.ckptPath) return;
    await appendFile(join(this.o.runDir, "metrics.jsonl"), `${JSON.stringify(metrics)}\n`);
    const arrays = await captureState(this.o.state);
    await saveCheckpoint(this.ckptPath, {
      meta: { ...meta, globalStep: this.globalStep, optStep: this.o.state.opt.step },
      arrays,
    });
  }
}
