import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { strongAugment, weakAugment } from "../augment/index.js";
import type { Rng } from "../augment/rng.js";
import { initBackend } from "../backend/index.js";
import { labelMatrixFromColumns, squaresDataset } from "../data/synthetic.js";
import { fitClassifier } from "../fixmatch/trainer.js";
import { buildClassifier, buildEncoder } from "../models/resnet.js";
import { getPretrainer } from "../ssl/pretrain.js";
import { TrainingCancelled } from "./loop.js";

// The shared loop under SimCLR / SimSiam / FixMatch: step-level cancel, onStep, NaN guard, and
// FixMatch's exact resume (EMA + distribution-alignment state travel in the checkpoint).

const testView = (x: tf.Tensor4D, rng: Rng): tf.Tensor4D =>
  tf.tidy(() => {
    const flipped = rng.next() < 0.5 ? tf.reverse(x, 2) : x;
    return tf.clipByValue(tf.add(flipped, rng.uniform(-0.1, 0.1)), 0, 1) as tf.Tensor4D;
  });
const nanView = (x: tf.Tensor4D): tf.Tensor4D => tf.tidy(() => tf.mul(x, Number.NaN) as tf.Tensor4D);

const encCfg = { inputSize: 16, width: 8, blocks: [1, 1], stem: "auto" as const };
const schema = { gate: { key: "abnormal", name: "Abnormal" }, findings: [{ key: "square", name: "Square" }] };
const augment = { weak: weakAugment, strong: strongAugment };
const data = squaresDataset(24, 16, 5, { square: 4 });
const unl = squaresDataset(32, 16, 6, { square: 4 });
const labels = labelMatrixFromColumns(["abnormal", "square"], [data.labels, data.labels]);
const fitCfg = {
  seed: 3,
  epochs: 2,
  batchSize: 8,
  stepsPerEpoch: 2,
  lr: 3e-3,
  fixmatch: { enabled: true, mu: 2, threshold: 0.6 },
  ema: { enabled: true, decay: 0.9 },
};

let dir = "";
beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  dir = await mkdtemp(join(tmpdir(), "loop-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("cancel within an epoch", () => {
  it("pretrain stops before the next step, leaks no tensors and keeps only finished epochs", async () => {
    const simclr = getPretrainer("simclr");
    const enc = buildEncoder(encCfg);
    const config = { seed: 1, batchSize: 8, stepsPerEpoch: 2, projection: { hidden: 16, out: 8 } };
    const stages = [{ name: "x", data: data.images, epochs: 3 }];
    await simclr.pretrain({ config, encoder: enc, encoderConfig: { ...encCfg }, stages, view: testView });
    const before = tf.memory().numTensors;
    const ctl = new AbortController();
    const seen: { epoch: number; stepInEpoch: number; step: number }[] = [];
    const runDir = join(dir, "ssl-cancel");
    const err = await simclr
      .pretrain({
        config,
        encoder: enc,
        encoderConfig: { ...encCfg },
        stages,
        view: testView,
        keepInitialWeights: true,
        runDir,
        signal: ctl.signal,
        onStep: (p) => {
          seen.push({ epoch: p.epoch, stepInEpoch: p.stepInEpoch, step: p.step });
          if (p.step === 3) ctl.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingCancelled);
    expect((err as TrainingCancelled).step).toBe(3);
    expect((err as TrainingCancelled).epoch).toBe(2);
    // Stopped in the middle of epoch 2: step 4 never ran.
    expect(seen).toEqual([
      { epoch: 1, stepInEpoch: 1, step: 1 },
      { epoch: 1, stepInEpoch: 2, step: 2 },
      { epoch: 2, stepInEpoch: 1, step: 3 },
    ]);
    expect(tf.memory().numTensors).toBe(before);
    const lines = (await readFile(join(runDir, "metrics.jsonl"), "utf8")).trim().split("\n");
    expect(lines).toHaveLength(1);
    enc.dispose();
  }, 600_000);

  it("fitClassifier honours an async shouldStop at the next step and leaks no tensors", async () => {
    const net = buildClassifier({ encoder: encCfg, schema });
    const base = { net, labelled: { images: data.images, labels }, unlabelled: unl.images, augment };
    await fitClassifier({ ...base, config: { ...fitCfg, epochs: 1, stepsPerEpoch: 1 } });
    const before = tf.memory().numTensors;
    let steps = 0;
    const err = await fitClassifier({
      ...base,
      config: { ...fitCfg, epochs: 5 },
      runDir: join(dir, "fit-cancel"),
      onStep: () => {
        steps += 1;
      },
      shouldStop: async () => steps >= 1,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingCancelled);
    expect(steps).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    // No epoch finished, so no checkpoint was written.
    expect(existsSync(join(dir, "fit-cancel", "checkpoints", "last.ckpt"))).toBe(false);
    // An already aborted signal stops before the first step.
    const ctl = new AbortController();
    ctl.abort();
    await expect(fitClassifier({ ...base, config: fitCfg, signal: ctl.signal })).rejects.toBeInstanceOf(
      TrainingCancelled,
    );
    expect(tf.memory().numTensors).toBe(before);
    net.full.dispose();
  }, 600_000);
});

describe("NaN guard", () => {
  it("skips non-finite steps and aborts after maxNanSteps in a row, without leaking", async () => {
    const enc = buildEncoder(encCfg);
    const before = tf.memory().numTensors;
    let steps = 0;
    await expect(
      getPretrainer("simclr").pretrain({
        config: { seed: 1, batchSize: 8, maxNanSteps: 2, projection: { hidden: 16, out: 8 } },
        encoder: enc,
        encoderConfig: { ...encCfg },
        stages: [{ name: "x", data: data.images, epochs: 2 }],
        view: nanView,
        onStep: (p) => {
          steps += 1;
          expect(Number.isNaN(p.loss)).toBe(true);
        },
      }),
    ).rejects.toThrow("SSL loss non-finite for 2 steps in a row");
    // The first NaN step is skipped (reported), the second aborts before onStep.
    expect(steps).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
  }, 600_000);
});

describe("FixMatch exact resume", () => {
  // SoftMatch weighting adds running confidence statistics to the checkpoint.
  it.each(["threshold", "softmatch"] as const)(
    "2 epochs straight equal 1 + resume + 1 (weights, EMA and alignment state; %s weighting)",
    async (weighting) => {
      const run = async (runDir: string, maxEpochs?: number, resume?: boolean) => {
        const net = buildClassifier({ encoder: encCfg, schema });
        const res = await fitClassifier({
          config: { ...fitCfg, fixmatch: { ...fitCfg.fixmatch, weighting } },
          net,
          labelled: { images: data.images, labels },
          unlabelled: unl.images,
          augment,
          runDir,
          ...(maxEpochs !== undefined ? { maxEpochs } : {}),
          ...(resume ? { resume } : {}),
        });
        const w = net.full.getWeights().map((t) => Array.from(t.dataSync()));
        net.full.dispose();
        return { res, w };
      };
      const a = await run(join(dir, `fa-${weighting}`));
      expect(a.res.finished).toBe(true);
      const b1 = await run(join(dir, `fb-${weighting}`), 1);
      expect(b1.res.finished).toBe(false);
      const b2 = await run(join(dir, `fb-${weighting}`), undefined, true);
      expect(b2.res.epochsRun).toBe(1);
      expect(b2.res.finished).toBe(true);
      expect(b2.w).toEqual(a.w);
      expect(b2.res.metrics[0]?.unlabelledMean).toEqual(a.res.metrics[1]?.unlabelledMean);
      expect(b2.res.metrics[0]?.maskRate).toEqual(a.res.metrics[1]?.maskRate);
      expect(b2.res.metrics[0]?.step).toBe(4);
      // Not vacuous: the weights after one epoch differ from the final ones.
      expect(b1.w).not.toEqual(a.w);
    },
    600_000,
  );
});
