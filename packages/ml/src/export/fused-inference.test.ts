import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { convSimdRuns, convWinogradRuns, maxPoolSimdRuns } from "../backend/conv-simd.js";
import { initBackend } from "../backend/index.js";
import { imageBatch } from "../data/image-set.js";
import { predictImages } from "../fixmatch/predict.js";
import { buildClassifier } from "../models/resnet.js";
import { embed, normalizeImages } from "../ssl/pretrain.js";
import { perturbWeights, randomImages } from "../testing/fixtures.js";
import { seedKernels } from "../train/weights.js";
import { compileFusedClassifier, setSumProjections } from "./fused-inference.js";

const schema = { gate: { key: "abnormal", name: "Abnormal" }, findings: [{ key: "kl3", name: "KL 3+" }] };

beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return m;
}

describe("fused inference plan", () => {
  const cases = [
    // 32, 16 and 8 px wide maps with 8-32 channels: every convolution (the stem, two per block, the
    // strided ones and the 1 x 1 shortcuts) runs the SIMD loop, the shortcuts summed into their
    // block's second convolution: 7 loop runs for 9 convolutions.
    {
      label: "small stem, 3 stages",
      encoder: { inputSize: 32, width: 8, blocks: [1, 1, 1] },
      simd: 7,
      // The 3 x 3 stride-1 layers with C a multiple of 4 run as Winograd (not the 1-channel stem).
      wino: 4,
      all: true,
    },
    // Two blocks per stage: identity-shortcut blocks after a projection block (9 runs, 10 convolutions).
    {
      label: "small stem, 2 stages of 2 blocks",
      encoder: { inputSize: 32, width: 8, blocks: [2, 2] },
      simd: 9,
      wino: 7,
      all: true,
    },
    // The 7 x 7 / 2 stem on a 64 px image (32 px wide output) runs the loop too.
    {
      label: "large stem + max-pool, 3 stages",
      encoder: { inputSize: 64, width: 8, blocks: [1, 1, 1], stem: "large" as const },
      simd: 7,
      wino: 3, // not the third stage: 4 px wide
      all: true,
      pools: 1,
    },
    // 40 and 20 px wide maps run the loop (with borders and fused Adds), the 10 px third stage
    // falls back to XNNPACK and gets plain maps: 5 loop runs for 6 convolutions.
    {
      label: "mixed: loop, then XNNPACK",
      encoder: { inputSize: 40, width: 8, blocks: [1, 1, 1] },
      simd: 5,
      wino: 2, // the first stage (40 wide); 20 is not a multiple of 8
      all: false,
    },
    // 25, 13 and 7 px wide maps: no output width is a multiple of 4, so XNNPACK runs them all.
    {
      label: "large stem + max-pool, odd maps, 2 blocks",
      encoder: { inputSize: 100, width: 8, blocks: [2, 1, 1] },
      simd: 0,
      wino: 0,
      all: false,
    },
  ];
  for (const c of cases) {
    it(`equals the layers model in inference mode (${c.label})`, async () => {
      const net = buildClassifier({ encoder: c.encoder, schema, dropout: 0.3 });
      seedKernels(net.full, 3);
      perturbWeights(net, 5);
      const images = randomImages(6, c.encoder.inputSize, 2);
      const x = imageBatch(images, [0, 1, 2, 3, 4, 5]);
      const refEmb = tf.tidy(() => embed(net.encoder, normalizeImages(x, net.config.normalization), false));
      const refLogits = tf.tidy(() => net.heads.apply(refEmb) as tf.Tensor2D);
      const plan = compileFusedClassifier(net);
      const before = tf.memory().numTensors;
      const runs = convSimdRuns();
      const pools = maxPoolSimdRuns();
      const winos = convWinogradRuns();
      const out = plan.run(x);
      expect(convSimdRuns() - runs).toBe(c.simd);
      expect(convWinogradRuns() - winos).toBe(c.wino);
      expect(maxPoolSimdRuns() - pools).toBe("pools" in c ? c.pools : 0);
      // Where every convolution runs the loop, the residual Adds and their ReLUs run inside it, and
      // no map is padded, cropped or normalized on the way, and the max-pool runs as a SIMD loop too:
      // the only other kernels are the mean and the heads.
      const prof = await tf.profile(() => {
        const o = plan.run(x);
        tf.dispose([o.embedding, o.logits]);
      });
      const mapKernels = prof.kernels
        .filter((k) => !k.name.endsWith("__op") && (k.outputShapes[0]?.length ?? 0) === 4)
        .map((k) => k.name);
      const adds = mapKernels.filter((n) => n === "Add" || n === "Relu").length;
      if (c.all) {
        expect(adds).toBe(0);
        expect(mapKernels.filter((n) => /^(PadV2|Slice|Sub|RealDiv|MaxPool)$/.test(n))).toEqual([]);
      } else expect(adds).toBeGreaterThan(0);
      // Only the two outputs stay alive; every intermediate is released.
      expect(tf.memory().numTensors).toBe(before + 2);
      expect(out.embedding.shape).toEqual(refEmb.shape);
      expect(out.logits.shape).toEqual(refLogits.shape);
      const e = await out.embedding.data();
      expect(maxDiff(e, await refEmb.data())).toBeLessThan(1e-4);
      expect(maxDiff(await out.logits.data(), await refLogits.data())).toBeLessThan(1e-4);
      // The batch norms are really exercised: the embeddings are not those of the un-normalized net.
      let spread = 0;
      for (let i = 0; i < e.length; i++) spread = Math.max(spread, Math.abs(e[i] ?? 0));
      expect(spread).toBeGreaterThan(1e-2);
      tf.dispose([x, refEmb, refLogits, out.embedding, out.logits]);
      plan.dispose();
      net.full.dispose();
    });
  }

  it("with projections not summed in, each runs as its own loop convolution and the Add still runs inside the loop", async () => {
    const net = buildClassifier({ encoder: { inputSize: 32, width: 8, blocks: [1, 1, 1] }, schema });
    seedKernels(net.full, 4);
    perturbWeights(net, 6);
    const x = imageBatch(randomImages(3, 32, 3), [0, 1, 2]);
    const plan = compileFusedClassifier(net);
    const summed = plan.run(x);
    setSumProjections(false);
    try {
      const runs = convSimdRuns();
      const prof = await tf.profile(() => {
        const o = plan.run(x);
        tf.dispose([o.embedding, o.logits]);
      });
      expect(convSimdRuns() - runs).toBe(9);
      expect(prof.kernels.filter((k) => k.name === "Add" && k.outputShapes[0]?.length === 4)).toEqual([]);
      const apart = plan.run(x);
      expect(maxDiff(await apart.embedding.data(), await summed.embedding.data())).toBeLessThan(1e-5);
      tf.dispose([apart.embedding, apart.logits]);
    } finally {
      setSumProjections(true);
    }
    tf.dispose([x, summed.embedding, summed.logits]);
    plan.dispose();
    net.full.dispose();
  });

  it("runImages reads 8-bit pixels where they lie (the first convolution normalizes them) and equals run on imageBatch", async () => {
    for (const encoder of [
      { inputSize: 32, width: 8, blocks: [1, 1] }, // small stem on the loop: the byte path
      { inputSize: 36, width: 8, blocks: [1, 1] }, // the byte path with rows of 4 x 8 + 4 pixels
      { inputSize: 30, width: 8, blocks: [1, 1] }, // 30 px is not a multiple of 4: imageBatch + run
    ]) {
      const net = buildClassifier({ encoder, schema });
      seedKernels(net.full, 5);
      perturbWeights(net, 7);
      const images = randomImages(9, encoder.inputSize, 4);
      const plan = compileFusedClassifier(net);
      const runs = convSimdRuns();
      // Start 1 of an odd-sized run: bytes not 4-aligned in the set (copied into an aligned buffer).
      for (const [start, count] of [
        [0, 4],
        [1, 5],
        [8, 1],
      ] as const) {
        const x = imageBatch(
          images,
          Array.from({ length: count }, (_, i) => start + i),
        );
        const before = tf.memory().numTensors;
        const a = plan.runImages(images, start, count);
        expect(tf.memory().numTensors).toBe(before + 2);
        const b = plan.run(x);
        expect(maxDiff(await a.embedding.data(), await b.embedding.data())).toBeLessThan(1e-5);
        expect(maxDiff(await a.logits.data(), await b.logits.data())).toBeLessThan(1e-5);
        tf.dispose([x, a.embedding, a.logits, b.embedding, b.logits]);
      }
      const bytePath = encoder.inputSize !== 30;
      expect(convSimdRuns() > runs).toBe(bytePath);
      // On the byte path the first convolution's input is the packed pixels: [count * S * S / 4].
      const prof = await tf.profile(() => {
        const o = plan.runImages(images, 0, 4);
        tf.dispose([o.embedding, o.logits]);
      });
      const firstInput = prof.kernels.find((k) => !k.name.endsWith("__op"))?.inputShapes[0];
      const size = encoder.inputSize;
      expect(firstInput).toEqual(bytePath ? [(4 * size * size) / 4] : [4, size, size, 1]);
      expect(() => plan.runImages(images, 7, 3)).toThrow(/out of/);
      plan.dispose();
      net.full.dispose();
    }
  });

  it("predictImages gives the same outputs with the fused plan and the layers model", async () => {
    const net = buildClassifier({
      encoder: { inputSize: 28, width: 8, blocks: [1, 1] },
      schema,
      dropout: 0.2,
    });
    seedKernels(net.full, 9);
    perturbWeights(net, 4);
    const images = randomImages(7, 28, 8);
    const opts = { batchSize: 3, embeddings: true, mcSamples: 3, seed: 2 };
    const start = tf.memory().numTensors;
    const a = await predictImages(net, images, { ...opts, engine: "fused" });
    expect(tf.memory().numTensors).toBe(start);
    const b = await predictImages(net, images, { ...opts, engine: "layers" });
    for (const key of ["probs", "entropy", "mcMean", "bald", "embeddings"] as const) {
      expect(maxDiff(a[key] ?? [], b[key] ?? [1])).toBeLessThan(1e-4);
    }
    // A caller's plan (the scorer compiles one per version) gives the same bits and stays alive.
    const plan = compileFusedClassifier(net);
    const withPlan = await predictImages(net, images, { ...opts, plan });
    const again = await predictImages(net, images, { ...opts, plan });
    for (const key of ["probs", "bald", "embeddings"] as const) {
      expect(maxDiff(withPlan[key] ?? [], a[key] ?? [1])).toBe(0);
      expect(maxDiff(again[key] ?? [], a[key] ?? [1])).toBe(0);
    }
    plan.dispose();
    expect(tf.memory().numTensors).toBe(start);
    net.full.dispose();
  });

  it("refuses a layer it cannot map, naming it, and predictImages falls back to the layers model", async () => {
    const input = tfl.input({ shape: [8, 8, 1] });
    const y = tfl.layers
      .conv2d({ filters: 4, kernelSize: 3, padding: "same", activation: "tanh", name: "odd_conv" })
      .apply(input) as tfl.SymbolicTensor;
    const full = tfl.model({ inputs: input, outputs: y });
    const net = { ...buildClassifier({ encoder: { inputSize: 16, width: 8, blocks: [1] }, schema }), full };
    const start = tf.memory().numTensors;
    expect(() => compileFusedClassifier(net)).toThrow(/odd_conv/);
    expect(tf.memory().numTensors).toBe(start);
    const images = randomImages(2, 16, 1);
    const a = await predictImages(net, images, {});
    const b = await predictImages(net, images, { engine: "layers" });
    expect(maxDiff(a.probs, b.probs)).toBe(0);
  });
});
