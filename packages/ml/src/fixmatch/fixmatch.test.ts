import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { strongAugment, weakAugment } from "../augment/index.js";
import { createRng } from "../augment/rng.js";
import { initBackend } from "../backend/index.js";
import { labelMatrixFromColumns, squaresDataset } from "../data/synthetic.js";
import { loadClassifier, saveClassifier } from "../io/model-io.js";
import { buildClassifier, copyEncoderWeights } from "../models/resnet.js";
import { mixSeed } from "../train/seed.js";
import { seedKernels } from "../train/weights.js";
import { gatedPrediction, predictImages } from "./predict.js";
import {
  alignBinary,
  type FitOptions,
  fitClassifier,
  mixPseudoLabelled,
  mixupBatch,
  sampleBeta,
  softmatchWeight,
  updateConfidenceStats,
} from "./trainer.js";

const schema = { gate: { key: "abnormal", name: "Abnormal" }, findings: [{ key: "square", name: "Square" }] };
const encoder = { inputSize: 16, width: 8, blocks: [1, 1] };
const augment = { weak: weakAugment, strong: strongAugment };
let dir = "";
beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  dir = await mkdtemp(join(tmpdir(), "fixmatch-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("distribution alignment", () => {
  it("leaves p unchanged when the model's mean matches the prior and lowers it when it over-predicts", () => {
    expect(alignBinary(0.7, 0.2, 0.2)).toBeCloseTo(0.7, 6);
    expect(alignBinary(0.7, 0.1, 0.4)).toBeLessThan(0.7);
    expect(alignBinary(0.3, 0.4, 0.1)).toBeGreaterThan(0.3);
  });
});

describe("SoftMatch weighting", () => {
  it("starts from the first batch's mean and unbiased variance, then moves by the momentum", () => {
    // Two heads, three images (row-major [n, heads]).
    const first = updateConfidenceStats(null, [0.6, 0.9, 0.8, 0.9, 1.0, 0.9], 3, 2, 0.99);
    expect(first?.mean[0]).toBeCloseTo(0.8, 12);
    expect(first?.variance[0]).toBeCloseTo(0.04, 12); // ((0.2^2 + 0 + 0.2^2) / 2)
    expect(first?.mean[1]).toBeCloseTo(0.9, 12);
    expect(first?.variance[1]).toBeCloseTo(0, 12);
    const next = updateConfidenceStats(first, [0.5, 0.5, 0.7, 0.5], 2, 2, 0.9);
    expect(next?.mean[0]).toBeCloseTo(0.9 * 0.8 + 0.1 * 0.6, 12);
    expect(next?.variance[0]).toBeCloseTo(0.9 * 0.04 + 0.1 * 0.02, 12);
    expect(next?.mean[1]).toBeCloseTo(0.9 * 0.9 + 0.1 * 0.5, 12);
    expect(updateConfidenceStats(first, [], 0, 2, 0.9)).toBe(first);
  });

  it("weighs 1 from the running mean up and a Gaussian below it", () => {
    // mean 0.8, SD 0.1, width SD / 2 = 0.05: one width below -> exp(-1/2), two -> exp(-2).
    expect(softmatchWeight(0.8, 0.8, 0.01, 2)).toBe(1);
    expect(softmatchWeight(0.95, 0.8, 0.01, 2)).toBe(1);
    expect(softmatchWeight(0.75, 0.8, 0.01, 2)).toBeCloseTo(Math.exp(-0.5), 12);
    expect(softmatchWeight(0.7, 0.8, 0.01, 2)).toBeCloseTo(Math.exp(-2), 12);
    expect(softmatchWeight(0.7, 0.8, 0.01, 1)).toBeCloseTo(Math.exp(-0.5), 12);
    // A zero variance is a step at the mean, not a NaN.
    expect(softmatchWeight(0.79, 0.8, 0, 2)).toBe(0);
  });
});

describe("mixup of the labelled batch", () => {
  it("draws Beta(a, b) with the right mean and variance, reproducibly", () => {
    for (const [a, b] of [
      [0.5, 0.5],
      [2, 5],
      [0.75, 0.75],
    ] as const) {
      const rng = createRng(3);
      const xs = Array.from({ length: 40_000 }, () => sampleBeta(rng, a, b));
      expect(xs.every((x) => x >= 0 && x <= 1)).toBe(true);
      const m = xs.reduce((s, x) => s + x, 0) / xs.length;
      const v = xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
      expect(m).toBeCloseTo(a / (a + b), 2);
      expect(v).toBeCloseTo((a * b) / ((a + b) ** 2 * (a + b + 1)), 2);
    }
    const one = createRng(9);
    const two = createRng(9);
    expect(sampleBeta(one, 0.5, 0.5)).toBe(sampleBeta(two, 0.5, 0.5));
  });

  it("mixes each image and its labels with its partner; a label counts where both have one", () => {
    // Two 1x1 images, two heads; image 1 lacks head 1's label.
    const x = tf.tensor4d([1, 3], [2, 1, 1, 1]);
    const labels = { y: Float32Array.from([1, 0, 0, 0]), mask: Float32Array.from([1, 1, 1, 0]), heads: 2 };
    const before = tf.memory().numTensors;
    const m = mixupBatch(x, labels, [0.75, 1], [1, 0]);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(Array.from(m.x.dataSync())).toEqual([0.75 * 1 + 0.25 * 3, 3]);
    expect(Array.from(m.y)).toEqual([0.75, 0, 0, 0]);
    expect(Array.from(m.mask)).toEqual([1, 0, 1, 0]);
    // Weight 1 everywhere (or each image its own partner) leaves the batch as it was.
    const same = mixupBatch(x, labels, [0.6, 0.9], [0, 1]);
    expect(Array.from(same.x.dataSync())).toEqual([1, 3]);
    expect(Array.from(same.y)).toEqual([1, 0, 0, 0]);
    expect(Array.from(same.mask)).toEqual([1, 1, 1, 0]);
    expect(() => mixupBatch(x, labels, [1], [0, 1])).toThrow(/one entry per image/);
    tf.dispose([x, m.x, same.x]);
  });
});

describe("mixup of the pseudo-labelled unlabelled views", () => {
  it("pairs only rows that carry a pseudo-label, mixes their targets and multiplies their weights", () => {
    // Four 1x1 images, one head; row 2 fell below the threshold (weight 0).
    const x = tf.tensor4d([10, 20, 30, 40], [4, 1, 1, 1]);
    const y = Float32Array.from([1, 0, 1, 0]);
    const w = Float32Array.from([1, 0.5, 0, 1]);
    const before = tf.memory().numTensors;
    const m = mixPseudoLabelled(x, y, w, 1, createRng(3), 0.5);
    if (!m) throw new Error("expected a mixed batch");
    expect(tf.memory().numTensors).toBe(before + 1);
    const xs = Array.from(m.x.dataSync());
    // The row without a pseudo-label is untouched and keeps weight 0.
    expect(xs[2]).toBe(30);
    expect(m.mask[2]).toBe(0);
    // Every other row is lam * itself + (1 - lam) * a kept partner, lam >= 0.5, and its target is
    // the same mix of the two pseudo-labels; its weight is the product of the pair's.
    const kept = [0, 1, 3];
    const partners: number[] = [];
    for (const i of kept) {
      const own = [10, 20, 30, 40][i]!;
      const match = kept.find((j) => {
        const other = [10, 20, 30, 40][j]!;
        if (j === i) return Math.abs(xs[i]! - own) < 1e-4;
        const lam = (xs[i]! - other) / (own - other);
        return (
          lam >= 0.5 - 1e-6 && lam <= 1 + 1e-6 && Math.abs(m.y[i]! - (lam * y[i]! + (1 - lam) * y[j]!)) < 1e-5
        );
      });
      expect(match).toBeDefined();
      partners.push(match!);
      expect(m.mask[i]).toBeCloseTo(w[i]! * w[match!]!, 6);
    }
    // Partners are a permutation of the kept rows.
    expect(partners.slice().sort()).toEqual(kept);
    // The same generator state gives the same batch.
    const again = mixPseudoLabelled(x, y, w, 1, createRng(3), 0.5)!;
    expect(Array.from(again.x.dataSync())).toEqual(xs);
    // Fewer than two pseudo-labelled rows: nothing to mix.
    expect(mixPseudoLabelled(x, y, Float32Array.from([0, 0, 1, 0]), 1, createRng(3), 0.5)).toBeNull();
    tf.dispose([x, m.x, again.x]);
  });
});

describe("gated prediction", () => {
  it("reports each finding with the gate and the product", () => {
    const g = gatedPrediction(["abn", "a", "b"], [0.8, 0.5, 0.25]);
    expect(g.gate).toEqual({ key: "abn", prob: 0.8 });
    expect(g.findings[1]).toEqual({ key: "b", prob: 0.25, gatedProb: 0.2 });
  });
});

describe("FixMatch trainer", () => {
  const data = squaresDataset(24, 16, 5, { square: 4 });
  const unl = squaresDataset(32, 16, 6, { square: 4 });
  // The finding label is missing for every third image: its loss must be masked, not NaN.
  const finding = data.labels.map((y, i) => (i % 3 === 0 ? Number.NaN : y));
  const labels = labelMatrixFromColumns(["abnormal", "square"], [data.labels, finding]);

  it("trains with labelled + unlabelled streams, logs per-head mask rate, and leaks no tensors", async () => {
    const net = buildClassifier({ encoder, schema });
    const cfg = {
      seed: 1,
      epochs: 2,
      batchSize: 8,
      stepsPerEpoch: 2,
      lr: 3e-3,
      fixmatch: { enabled: true, mu: 2, threshold: { abnormal: 0.6, square: 0.7 } },
    };
    // Warm-up call so lazily created kernels/constants are not counted as a leak.
    await fitClassifier({
      config: { ...cfg, epochs: 1, stepsPerEpoch: 1 },
      net,
      labelled: { images: data.images, labels },
      unlabelled: unl.images,
      augment,
    });
    const before = tf.memory().numTensors;
    const runDir = join(dir, "fm");
    const res = await fitClassifier({
      config: cfg,
      net,
      labelled: { images: data.images, labels },
      unlabelled: unl.images,
      augment,
      runDir,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(res.finished).toBe(true);
    const m = res.metrics[1]!;
    expect(m.mode).toBe("fixmatch");
    expect(Number.isFinite(m.supervisedLoss)).toBe(true);
    expect(Number.isFinite(m.unsupervisedLoss)).toBe(true);
    expect(Object.keys(m.maskRate)).toEqual(["abnormal", "square"]);
    const lines = (await readFile(join(runDir, "metrics.jsonl"), "utf8")).trim().split("\n");
    expect(lines).toHaveLength(2);

    const before2 = tf.memory().numTensors;
    const p = await predictImages(net, unl.images, { mcSamples: 3, embeddings: true, batchSize: 16 });
    expect(tf.memory().numTensors).toBe(before2);
    expect(p.probs.length).toBe(32 * 2);
    expect(p.bald?.length).toBe(32 * 2);
    expect(p.embeddingSize).toBe(16);
    expect([...p.probs].every((v) => v >= 0 && v <= 1)).toBe(true);
    net.full.dispose();
  }, 600_000);

  it("labelled views follow labelledAugment, and a mixup fit trains and leaks no tensors", async () => {
    const calls = { weak: [] as number[], strong: [] as number[] };
    const spy = {
      weak: (x: tf.Tensor4D, rng: Parameters<typeof weakAugment>[1]) => {
        calls.weak.push(x.shape[0]);
        return weakAugment(x, rng);
      },
      strong: (x: tf.Tensor4D, rng: Parameters<typeof strongAugment>[1]) => {
        calls.strong.push(x.shape[0]);
        return strongAugment(x, rng);
      },
    };
    const fit = async (
      {
        unlabelledMixup,
        threshold,
        ...extra
      }: {
        labelledAugment?: "weak" | "strong";
        mixup?: number;
        unlabelledMixup?: number;
        threshold?: number;
      },
      fixmatch: boolean,
    ) => {
      calls.weak = [];
      calls.strong = [];
      const net = buildClassifier({ encoder, schema });
      const res = await fitClassifier({
        config: {
          seed: 4,
          epochs: 1,
          batchSize: 8,
          stepsPerEpoch: 2,
          lr: 3e-3,
          ...extra,
          fixmatch: {
            enabled: fixmatch,
            mu: 2,
            mixup: unlabelledMixup ?? 0,
            ...(threshold ? { threshold } : {}),
          },
        },
        net,
        labelled: { images: data.images, labels },
        unlabelled: unl.images,
        augment: spy,
      });
      net.full.dispose();
      return res.metrics[0]!;
    };
    // Supervised: the labelled batch (8) takes the weak view unless told otherwise.
    await fit({}, false);
    expect(calls).toEqual({ weak: [8, 8], strong: [] });
    await fit({ labelledAugment: "strong" }, false);
    expect(calls).toEqual({ weak: [], strong: [8, 8] });
    // FixMatch: the unlabelled batch (16) has a weak and a strong view either way.
    await fit({ labelledAugment: "strong" }, true);
    expect(calls).toEqual({ weak: [16, 16], strong: [8, 16, 8, 16] });

    await fit({ mixup: 0.5 }, true); // warm-up: lazily created kernels are not a leak
    const before = tf.memory().numTensors;
    const mixed = await fit({ mixup: 0.5, labelledAugment: "strong" }, true);
    expect(tf.memory().numTensors).toBe(before);
    expect(Number.isFinite(mixed.supervisedLoss)).toBe(true);
    expect(Number.isFinite(mixed.unsupervisedLoss)).toBe(true);
    // Mixed targets are fractional, so the labelled loss differs from the unmixed run of the seed.
    const plain = await fit({ labelledAugment: "strong" }, true);
    expect(mixed.supervisedLoss).not.toBeCloseTo(plain.supervisedLoss, 6);
    // Mixup of the unlabelled stream (threshold 0.5 keeps every pseudo-label of the barely trained
    // net): no leak, every row still counts, and the mixed targets change the unsupervised loss.
    const beforeU = tf.memory().numTensors;
    const mixedU = await fit({ labelledAugment: "strong", unlabelledMixup: 0.5, threshold: 0.5 }, true);
    expect(tf.memory().numTensors).toBe(beforeU);
    expect(mixedU.maskRate.abnormal).toBe(1);
    expect(Number.isFinite(mixedU.unsupervisedLoss)).toBe(true);
    const unmixedU = await fit({ labelledAugment: "strong", threshold: 0.5 }, true);
    expect(mixedU.unsupervisedLoss).not.toBeCloseTo(unmixedU.unsupervisedLoss, 6);
  }, 600_000);

  it("softmatch weighting gives soft pseudo-label weights (mean weight per head) and leaks no tensors", async () => {
    const fit = async (weighting: "threshold" | "softmatch") => {
      const net = buildClassifier({ encoder, schema });
      const res = await fitClassifier({
        config: {
          seed: 5,
          epochs: 1,
          batchSize: 8,
          stepsPerEpoch: 3,
          lr: 3e-3,
          fixmatch: { enabled: true, mu: 2, threshold: 0.95, weighting },
        },
        net,
        labelled: { images: data.images, labels },
        unlabelled: unl.images,
        augment,
      });
      net.full.dispose();
      return res.metrics[0]!;
    };
    await fit("softmatch"); // warm-up: lazily created kernels are not a leak
    const before = tf.memory().numTensors;
    const soft = await fit("softmatch");
    expect(tf.memory().numTensors).toBe(before);
    const hard = await fit("threshold");
    expect(Number.isFinite(soft.unsupervisedLoss)).toBe(true);
    for (const k of ["abnormal", "square"]) {
      const w = soft.maskRate[k] ?? 0;
      // Everything at or above the running mean weighs 1 and the rest weighs more than 0.
      expect(w).toBeGreaterThan(0.3);
      expect(w).toBeLessThan(1);
      // An untrained head is rarely 95% sure: the hard threshold keeps less than SoftMatch weighs.
      expect(hard.maskRate[k] ?? 0).toBeLessThan(w);
    }
  }, 600_000);

  it("a fixed teacher's pseudo-labels drive the unlabelled loss and the teacher stays as it was", async () => {
    const cfg = {
      seed: 6,
      epochs: 1,
      batchSize: 8,
      stepsPerEpoch: 3,
      lr: 3e-3,
      fixmatch: { enabled: true, mu: 2, threshold: 0.95, distributionAlignment: false },
    };
    // A teacher that calls every image positive with near certainty: zero head kernels, bias +8.
    const teacher = buildClassifier({ encoder, schema });
    teacher.heads.setWeights(
      teacher.heads.getWeights().map((w) => (w.rank === 1 ? tf.fill(w.shape, 8) : tf.zerosLike(w))),
    );
    const teacherWeights = await Promise.all(teacher.full.getWeights().map((w) => w.data()));
    // A teacher as sure of the opposite call: bias -8.
    const doubter = buildClassifier({ encoder, schema });
    doubter.heads.setWeights(
      doubter.heads.getWeights().map((w) => (w.rank === 1 ? tf.fill(w.shape, -8) : tf.zerosLike(w))),
    );
    const fit = async (withTeacher: boolean | FitOptions["teacher"], targets: "hard" | "soft" = "hard") => {
      const net = buildClassifier({ encoder, schema });
      const res = await fitClassifier({
        config: { ...cfg, fixmatch: { ...cfg.fixmatch, targets } },
        net,
        labelled: { images: data.images, labels },
        unlabelled: unl.images,
        ...(withTeacher === true ? { teacher } : withTeacher ? { teacher: withTeacher } : {}),
        augment,
      });
      net.full.dispose();
      return res.metrics[0]!;
    };
    await fit(true); // warm-up: lazily created kernels are not a leak
    const before = tf.memory().numTensors;
    const taught = await fit(true);
    expect(tf.memory().numTensors).toBe(before);
    const own = await fit(false);
    for (const k of ["abnormal", "square"]) {
      expect(taught.maskRate[k]).toBe(1); // sigmoid(8) > 0.95 for every unlabelled image
      expect(own.maskRate[k] ?? 1).toBeLessThan(1); // an untrained model is not that sure
    }
    expect(await Promise.all(teacher.full.getWeights().map((w) => w.data()))).toEqual(teacherWeights);
    // An ensemble's pseudo-labels are its mean probability: two copies of one teacher teach exactly
    // as it does, and two teachers sure of opposite calls average to 0.5, which passes no threshold.
    const pick = (m: typeof taught) => [m.supervisedLoss, m.unsupervisedLoss, m.maskRate];
    expect(pick(await fit([teacher, teacher]))).toEqual(pick(taught));
    const split = await fit([teacher, doubter]);
    for (const k of ["abnormal", "square"]) expect(split.maskRate[k]).toBe(0);
    expect(split.unsupervisedLoss).toBe(0);
    // Soft targets: every image is taught the ensemble's 0.5, a cross-entropy of at least ln 2.
    const soft = await fit([teacher, doubter], "soft");
    for (const k of ["abnormal", "square"]) expect(soft.maskRate[k]).toBe(0); // still none passes
    expect(soft.unsupervisedLoss).toBeGreaterThan(Math.LN2 - 1e-4);
    // Against a sure teacher soft targets are its probability, sigmoid(8), not the hard 1.
    const sureSoft = await fit(true, "soft");
    expect(sureSoft.unsupervisedLoss).not.toBe(taught.unsupervisedLoss);
    expect(sureSoft.maskRate.abnormal).toBe(1);
    const beforeEnsemble = tf.memory().numTensors;
    await fit([teacher, doubter]);
    expect(tf.memory().numTensors).toBe(beforeEnsemble);

    const wrong = buildClassifier({ encoder, schema: { gate: schema.gate, findings: [] } });
    await expect(
      fitClassifier({
        config: cfg,
        net: buildClassifier({ encoder, schema }),
        labelled: { images: data.images, labels },
        unlabelled: unl.images,
        teacher: wrong,
        augment,
      }),
    ).rejects.toThrow(/teacher heads/);
    wrong.full.dispose();
    doubter.full.dispose();
    teacher.full.dispose();
  }, 600_000);

  it("mean-teacher pseudo-labels come from the EMA weights in inference mode", async () => {
    // With EMA decay 1 the EMA weights stay the initial ones, so pseudo-labels from the EMA must
    // match, bit for bit, those of a fixed teacher holding a copy of the initial weights.
    const cfg = {
      seed: 7,
      epochs: 1,
      batchSize: 8,
      stepsPerEpoch: 3,
      lr: 3e-3,
      seedInit: false,
      ema: { enabled: true, decay: 1 },
    };
    const initial = buildClassifier({ encoder, schema });
    // The weights a fit starts from: the trainer re-seeds the heads (seedInit false) from the seed.
    seedKernels(initial.heads, mixSeed(cfg.seed, 11));
    const copy = () => {
      const n = buildClassifier({ encoder, schema });
      n.full.setWeights(initial.full.getWeights());
      return n;
    };
    const run = async (pseudoLabels: "model" | "ema", teacher?: ReturnType<typeof copy>) => {
      const net = copy();
      const res = await fitClassifier({
        config: { ...cfg, fixmatch: { enabled: true, mu: 2, threshold: 0.6, pseudoLabels } },
        net,
        labelled: { images: data.images, labels },
        unlabelled: unl.images,
        ...(teacher ? { teacher } : {}),
        augment,
      });
      net.full.dispose();
      return res.metrics[0]!;
    };
    await run("ema"); // warm-up
    const before = tf.memory().numTensors;
    const ema = await run("ema");
    expect(tf.memory().numTensors).toBe(before);
    const teacher = copy();
    const fixed = await run("model", teacher);
    const live = await run("model");
    const pick = (m: typeof ema) => [m.supervisedLoss, m.unsupervisedLoss, m.maskRate];
    expect(pick(ema)).toEqual(pick(fixed));
    expect(pick(ema)).not.toEqual(pick(live));
    await expect(
      fitClassifier({
        config: { ...cfg, ema: { enabled: false }, fixmatch: { pseudoLabels: "ema" } },
        net: initial,
        labelled: { images: data.images, labels },
        unlabelled: unl.images,
        augment,
      }),
    ).rejects.toThrow(/needs ema.enabled/);
    teacher.full.dispose();
    initial.full.dispose();
  }, 600_000);

  it("encoderLrScale 0 keeps a pretrained encoder's weights while the heads train", async () => {
    const train = squaresDataset(32, 16, 5, { square: 5 });
    const lab = labelMatrixFromColumns(["abnormal", "square"], [train.labels, train.labels]);
    const net = buildClassifier({ encoder, schema, dropout: 0 });
    const readAll = (m: { trainableWeights: { read(): tf.Tensor }[] }) =>
      Promise.all(m.trainableWeights.map((w) => w.read().data()));
    const enc0 = await readAll(net.encoder);
    const heads0 = await readAll(net.heads);
    await fitClassifier({
      config: {
        seed: 4,
        epochs: 1,
        stepsPerEpoch: 3,
        batchSize: 8,
        lr: 1e-2,
        weightDecay: 0.05,
        encoderLrScale: 0,
        seedInit: false,
        fixmatch: { enabled: true, mu: 1, threshold: 0.5 },
        ema: { enabled: false },
      },
      net,
      labelled: { images: train.images, labels: lab },
      unlabelled: train.images,
      augment,
    });
    expect(await readAll(net.encoder)).toEqual(enc0);
    expect(await readAll(net.heads)).not.toEqual(heads0);
    net.full.dispose();
  }, 600_000);

  it("a fit from a pretrained encoder is reproducible: the heads start from the seed", async () => {
    const train = squaresDataset(16, 16, 8, { square: 5 });
    const lab = labelMatrixFromColumns(["abnormal", "square"], [train.labels, train.labels]);
    const pretrained = buildClassifier({ encoder, schema });
    const run = async () => {
      // Built afresh each time: the heads' construction-time initial weights differ between builds.
      const net = buildClassifier({ encoder, schema });
      copyEncoderWeights(pretrained.encoder, net.encoder);
      await fitClassifier({
        config: {
          seed: 9,
          epochs: 1,
          stepsPerEpoch: 2,
          batchSize: 8,
          lr: 1e-2,
          seedInit: false,
          fixmatch: { enabled: true, mu: 1, threshold: 0.6 },
        },
        net,
        labelled: { images: train.images, labels: lab },
        unlabelled: train.images,
        augment,
      });
      const w = await Promise.all(net.full.getWeights().map((t) => t.data()));
      net.full.dispose();
      return w;
    };
    expect(await run()).toEqual(await run());
    pretrained.full.dispose();
  }, 600_000);

  it("supervised mode separates the classes, and a saved model predicts the same after loading", async () => {
    const train = squaresDataset(64, 16, 9, { square: 5 });
    const lab = labelMatrixFromColumns(["abnormal", "square"], [train.labels, train.labels]);
    const net = buildClassifier({ encoder, schema, dropout: 0.1 });
    const res = await fitClassifier({
      config: {
        seed: 2,
        epochs: 6,
        batchSize: 16,
        lr: 5e-3,
        fixmatch: { enabled: false },
        ema: { enabled: false },
      },
      net,
      labelled: { images: train.images, labels: lab },
      augment,
    });
    expect(res.metrics[0]?.mode).toBe("supervised");
    const p = await predictImages(net, train.images);
    const pos = train.labels
      .map((y, i) => (y === 1 ? (p.probs[i * 2] ?? 0) : null))
      .filter((v): v is number => v !== null);
    const neg = train.labels
      .map((y, i) => (y === 0 ? (p.probs[i * 2] ?? 0) : null))
      .filter((v): v is number => v !== null);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(pos) - mean(neg)).toBeGreaterThan(0.3);

    const modelDir = join(dir, "model");
    await saveClassifier(net, modelDir);
    const loaded = await loadClassifier(modelDir);
    expect(loaded.headKeys).toEqual(["abnormal", "square"]);
    expect(loaded.config.encoder.inputSize).toBe(16);
    const q = await predictImages(loaded, train.images);
    for (let i = 0; i < p.probs.length; i++) expect(q.probs[i]).toBeCloseTo(p.probs[i] ?? 0, 5);
    net.full.dispose();
    loaded.full.dispose();
  }, 600_000);
});
