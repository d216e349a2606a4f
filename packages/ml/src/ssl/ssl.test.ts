import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Rng } from "../augment/rng.js";
import { initBackend } from "../backend/index.js";
import type { ImageSet } from "../data/image-set.js";
import { buildEncoder } from "../models/resnet.js";
import { cosineWithWarmup } from "../train/schedule.js";
import { getPretrainer, listPretrainers } from "./pretrain.js";
import { ntXentLoss } from "./simclr.js";

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

const encCfg = { inputSize: 16, width: 8, blocks: [1, 1], stem: "auto" as const };
let dir = "";
beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  dir = await mkdtemp(join(tmpdir(), "ssl-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("schedule", () => {
  it("warms up linearly then follows a cosine to minLr", () => {
    const o = { baseLr: 1, totalSteps: 110, warmupSteps: 10, minLr: 0.1 };
    expect(cosineWithWarmup(0, o)).toBeCloseTo(0.1);
    expect(cosineWithWarmup(4, o)).toBeCloseTo(0.5);
    expect(cosineWithWarmup(10, o)).toBeCloseTo(1);
    expect(cosineWithWarmup(60, o)).toBeCloseTo(0.55);
    expect(cosineWithWarmup(110, o)).toBeCloseTo(0.1);
    expect(cosineWithWarmup(5000, o)).toBeCloseTo(0.1);
  });
});

describe("NT-Xent", () => {
  it("matches a hand computation", () => {
    const z1 = [
      [1, 0],
      [0, 1],
    ];
    const z2 = [
      [1, 0],
      [0.6, 0.8],
    ];
    const t = 0.5;
    const rows = [...z1, ...z2];
    const n = 2;
    let expected = 0;
    for (let i = 0; i < 2 * n; i++) {
      const pos = i < n ? i + n : i - n;
      const sims = rows.map((r, j) =>
        j === i ? Number.NEGATIVE_INFINITY : (r[0]! * rows[i]![0]! + r[1]! * rows[i]![1]!) / t,
      );
      const lse = Math.log(sims.reduce((a, v) => a + Math.exp(v), 0));
      expected += lse - sims[pos]!;
    }
    expected /= 2 * n;
    const loss = ntXentLoss(tf.tensor2d(z1), tf.tensor2d(z2), t);
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 4);
    loss.dispose();
  });
});

describe("SimCLR pretraining", () => {
  const config = { seed: 7, batchSize: 8, lr: 3e-3, warmupEpochs: 0.5, projection: { hidden: 16, out: 8 } };
  const stages = [
    { name: "human", data: syntheticImages(16, 16, 1), epochs: 1 },
    { name: "vet", data: syntheticImages(16, 16, 2), epochs: 1 },
  ];

  it("is registered by name", () => {
    expect(listPretrainers()).toContain("simclr");
  });

  it("resumes exactly: 2 epochs straight equal 1 + resume + 1", async () => {
    const simclr = getPretrainer("simclr");
    const a = buildEncoder(encCfg);
    const runA = join(dir, "a");
    const resA = await simclr.pretrain({
      config,
      encoder: a,
      encoderConfig: { ...encCfg },
      stages,
      view: testView,
      runDir: runA,
    });
    expect(resA.finished).toBe(true);
    expect(resA.epochsRun).toBe(2);

    const runB = join(dir, "b");
    const b1 = buildEncoder(encCfg);
    const first = await simclr.pretrain({
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
    const b2 = buildEncoder(encCfg);
    const second = await simclr.pretrain({
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
    // And training moved the weights at all (the comparison is not vacuous).
    const fresh = buildEncoder(encCfg);
    expect(fresh.getWeights().map((w) => Array.from(w.dataSync()))).not.toEqual(wa);

    const lines = (await readFile(join(runA, "metrics.jsonl"), "utf8")).trim().split("\n");
    expect(lines).toHaveLength(2);
    const m = JSON.parse(lines[1] ?? "{}") as { stage: string; loss: number };
    expect(m.stage).toBe("vet");
    expect(Number.isFinite(m.loss)).toBe(true);
    a.dispose();
    b2.dispose();
    fresh.dispose();
  }, 600_000);

  it("does not leak tensors per epoch of steps", async () => {
    const simclr = getPretrainer("simclr");
    const enc = buildEncoder(encCfg);
    const big = [{ name: "x", data: syntheticImages(16, 16, 3), epochs: 1 }];
    await simclr.pretrain({
      config,
      encoder: enc,
      encoderConfig: { ...encCfg },
      stages: big,
      view: testView,
    });
    const before = tf.memory().numTensors;
    await simclr.pretrain({
      config,
      encoder: enc,
      encoderConfig: { ...encCfg },
      stages: [{ ...big[0]!, epochs: 1 }],
      view: testView,
      keepInitialWeights: true,
    });
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
  }, 600_000);
});
