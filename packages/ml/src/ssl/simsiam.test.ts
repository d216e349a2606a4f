import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Rng } from "../augment/rng.js";
import { initBackend } from "../backend/index.js";
import type { ImageSet } from "../data/image-set.js";
import { buildEncoder } from "../models/resnet.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { getPretrainer, listPretrainers, sslConfigSchema } from "./pretrain.js";
import { negativeCosine, simsiamLoss, stopGradient } from "./simsiam.js";

// A cheap, seeded view for these tests (flip + brightness); the real views live in augment/.
const testView = (x: tf.Tensor4D, rng: Rng): tf.Tensor4D =>
  tf.tidy(() => {
    const flipped = rng.next() < 0.5 ? tf.reverse(x, 2) : x;
    return tf.clipByValue(tf.add(flipped, rng.uniform(-0.1, 0.1)), 0, 1) as tf.Tensor4D;
  });

function syntheticImages(count: number, size: number, seed: number): ImageSet {
  const pixels = new Uint8Array(count * size * size);
  let s = seed;
  for (let i = 0; i < pixels.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    pixels[i] = s >>> 24;
  }
  return { count, size, pixels };
}

// float64 references
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * (b[i] ?? 0), 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));
const cos = (a: number[], b: number[]) => dot(a, b) / (norm(a) * norm(b));
const negCos64 = (p: number[][], z: number[][]) =>
  -p.reduce((s, r, i) => s + cos(r, z[i] ?? []), 0) / p.length;

const p1 = [
  [1, 2, -1],
  [0.5, -0.3, 2],
];
const p2 = [
  [-1, 0.2, 0.7],
  [3, 1, 1],
];
const z1 = [
  [0.9, 1.5, -0.2],
  [0.1, 0.4, 1.1],
];
const z2 = [
  [0.3, -2, 0.6],
  [2.5, 0.5, 1.4],
];

const encCfg = { inputSize: 16, width: 8, blocks: [1, 1], stem: "auto" as const };
let dir = "";
beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  dir = await mkdtemp(join(tmpdir(), "simsiam-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("SimSiam loss", () => {
  it("matches a float64 computation of D(p1, z2)/2 + D(p2, z1)/2", () => {
    const expected = 0.5 * negCos64(p1, z2) + 0.5 * negCos64(p2, z1);
    const loss = simsiamLoss(tf.tensor2d(p1), tf.tensor2d(p2), tf.tensor2d(z1), tf.tensor2d(z2));
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
    loss.dispose();
    // D is -1 for aligned rows and +1 for opposite ones, whatever their lengths.
    const a = tf.tensor2d([
      [1, 2],
      [-3, 1],
    ]);
    const same = negativeCosine(a, tf.mul(a, 3) as tf.Tensor2D);
    const opposite = negativeCosine(a, tf.neg(a) as tf.Tensor2D);
    expect(same.dataSync()[0]).toBeCloseTo(-1, 5);
    expect(opposite.dataSync()[0]).toBeCloseTo(1, 5);
    tf.dispose([a, same, opposite]);
  });

  it("stops the gradient on the target branch: zero for z, the float64 gradient for p", () => {
    const sg = stopGradient(tf.tensor2d(z1));
    expect(Array.from(sg.dataSync())).toEqual(Array.from(tf.tensor2d(z1).dataSync()));
    const gradOf = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
      simsiamLoss(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor2D),
    );
    const [gp1, gp2, gz1, gz2] = gradOf([tf.tensor2d(p1), tf.tensor2d(p2), tf.tensor2d(z1), tf.tensor2d(z2)]);
    expect(Array.from(gz1?.dataSync() ?? [1])).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(gz2?.dataSync() ?? [1])).toEqual([0, 0, 0, 0, 0, 0]);
    // d/dp of -0.5/n * cos(p, z) = -0.5/n * (z/|z| - cos(p,z) p/|p|) / |p|
    const expectGrad = (p: number[][], z: number[][]) =>
      p.flatMap((row, i) => {
        const zr = z[i] ?? [];
        const c = cos(row, zr);
        return row.map(
          (v, j) => (-0.5 / p.length) * (((zr[j] ?? 0) / norm(zr) - (c * v) / norm(row)) / norm(row)),
        );
      });
    const g1 = Array.from(gp1?.dataSync() ?? []);
    const g2 = Array.from(gp2?.dataSync() ?? []);
    expectGrad(p1, z2).forEach((v, i) => {
      expect(g1[i]).toBeCloseTo(v, 5);
    });
    expectGrad(p2, z1).forEach((v, i) => {
      expect(g2[i]).toBeCloseTo(v, 5);
    });
    expect(g1.some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });
});

describe("SimSiam pretraining", () => {
  const config = {
    method: "simsiam" as const,
    seed: 7,
    batchSize: 8,
    lr: 3e-3,
    warmupEpochs: 0.5,
    projection: { hidden: 16, out: 16 },
  };
  const stages = [
    { name: "human", data: syntheticImages(16, 16, 1), epochs: 1 },
    { name: "vet", data: syntheticImages(16, 16, 2), epochs: 1 },
  ];

  it("is registered by name and selected by the config's method field", () => {
    expect(listPretrainers()).toEqual(expect.arrayContaining(["simclr", "simsiam"]));
    expect(sslConfigSchema.parse({}).method).toBe("simclr");
    expect(() => sslConfigSchema.parse({ method: "byol" })).toThrow();
  });

  it("refuses a config that names another method", async () => {
    const enc = buildEncoder(encCfg);
    await expect(
      getPretrainer("simclr").pretrain({
        config,
        encoder: enc,
        encoderConfig: { ...encCfg },
        stages,
        view: testView,
      }),
    ).rejects.toThrow(/simsiam/);
    enc.dispose();
  });

  it("lowers the loss over a few steps on a toy set", async () => {
    const enc = buildEncoder(encCfg);
    const res = await getPretrainer("simsiam").pretrain({
      config: { ...config, lr: 5e-2, warmupEpochs: 0 },
      encoder: enc,
      encoderConfig: { ...encCfg },
      stages: [{ name: "toy", data: syntheticImages(16, 16, 5), epochs: 8 }],
      view: testView,
    });
    const losses = res.metrics.map((m) => m.loss);
    expect(losses).toHaveLength(8);
    for (const l of losses) {
      expect(l).toBeGreaterThanOrEqual(-1);
      expect(l).toBeLessThanOrEqual(1);
    }
    // 16 steps: near 0 (random predictor) at first, clearly negative by the end.
    const lastTwo = ((losses[6] ?? 0) + (losses[7] ?? 0)) / 2;
    expect(lastTwo).toBeLessThan((losses[0] ?? 0) - 0.1);
    expect(res.metrics[0]?.method).toBe("simsiam");
    enc.dispose();
  }, 600_000);

  it("resumes exactly: 2 epochs straight equal 1 + resume + 1", async () => {
    const simsiam = getPretrainer("simsiam");
    const a = buildEncoder(encCfg);
    const runA = join(dir, "a");
    const resA = await simsiam.pretrain({
      config,
      encoder: a,
      encoderConfig: { ...encCfg },
      stages,
      view: testView,
      runDir: runA,
    });
    expect(resA.finished).toBe(true);
    expect(resA.epochsRun).toBe(2);
    const ck = await loadCheckpoint(join(runA, "checkpoints", "last.ckpt"));
    expect(ck.meta.method).toBe("simsiam");
    expect([...ck.arrays.keys()].some((k) => k.startsWith("predictor/"))).toBe(true);

    const runB = join(dir, "b");
    const b1 = buildEncoder(encCfg);
    const first = await simsiam.pretrain({
      config,
      encoder: b1,
      encoderConfig: { ...encCfg },
      stages,
      view: testView,
      runDir: runB,
      maxEpochs: 1,
    });
    expect(first.finished).toBe(false);
    b1.dispose();
    // A SimCLR run must not pick up a SimSiam checkpoint.
    const c = buildEncoder(encCfg);
    await expect(
      getPretrainer("simclr").pretrain({
        config: { seed: 7, batchSize: 8 },
        encoder: c,
        encoderConfig: { ...encCfg },
        stages,
        view: testView,
        runDir: runB,
        resume: true,
      }),
    ).rejects.toThrow(/checkpoint is for simsiam/);
    c.dispose();
    const b2 = buildEncoder(encCfg);
    const second = await simsiam.pretrain({
      config,
      encoder: b2,
      encoderConfig: { ...encCfg },
      stages,
      view: testView,
      runDir: runB,
      resume: true,
    });
    expect(second.epochsRun).toBe(1);
    expect(second.finished).toBe(true);

    const wa = a.getWeights().map((w) => Array.from(w.dataSync()));
    const wb = b2.getWeights().map((w) => Array.from(w.dataSync()));
    expect(wb).toEqual(wa);
    const fresh = buildEncoder(encCfg);
    expect(fresh.getWeights().map((w) => Array.from(w.dataSync()))).not.toEqual(wa);

    const lines = (await readFile(join(runA, "metrics.jsonl"), "utf8")).trim().split("\n");
    expect(lines).toHaveLength(2);
    const m = JSON.parse(lines[1] ?? "{}") as { stage: string; loss: number; method: string };
    expect(m.stage).toBe("vet");
    expect(m.method).toBe("simsiam");
    expect(Number.isFinite(m.loss)).toBe(true);
    a.dispose();
    b2.dispose();
    fresh.dispose();
  }, 600_000);

  it("does not leak tensors per step", async () => {
    const simsiam = getPretrainer("simsiam");
    const enc = buildEncoder(encCfg);
    const data = syntheticImages(32, 16, 3);
    // Warm-up run so lazily created kernels/constants are not counted as a leak.
    await simsiam.pretrain({
      config: { ...config, stepsPerEpoch: 1 },
      encoder: enc,
      encoderConfig: { ...encCfg },
      stages: [{ name: "x", data, epochs: 1 }],
      view: testView,
    });
    const before = tf.memory().numTensors;
    const perStep: number[] = [];
    await simsiam.pretrain({
      config,
      encoder: enc,
      encoderConfig: { ...encCfg },
      stages: [{ name: "x", data, epochs: 2 }],
      view: testView,
      keepInitialWeights: true,
      onStep: () => {
        perStep.push(tf.memory().numTensors);
      },
    });
    expect(perStep).toHaveLength(8);
    expect(new Set(perStep).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
  }, 600_000);
});
