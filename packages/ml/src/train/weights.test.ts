import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index";
import { buildEncoder } from "../models/resnet";
import { tfjsSeed } from "./seed";
import { seedKernels } from "./weights";

beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
});

const build = () => buildEncoder({ inputSize: 32, width: 8, blocks: [1, 1], stem: "small" });
const kernels = (m: ReturnType<typeof build>) =>
  m.weights.filter((w) => w.originalName.endsWith("kernel")).map((w) => Array.from(w.read().dataSync()));

describe("seedKernels", () => {
  it("gives identical kernels for one seed, seed 0 included, and different ones for another", () => {
    for (const seed of [0, 1, 12345]) {
      const a = build();
      const b = build();
      seedKernels(a, seed);
      seedKernels(b, seed);
      expect(kernels(a)).toEqual(kernels(b));
      a.dispose();
      b.dispose();
    }
    const a = build();
    const b = build();
    seedKernels(a, 0);
    seedKernels(b, 1);
    expect(kernels(a)[0]).not.toEqual(kernels(b)[0]);
    a.dispose();
    b.dispose();
  });

  it("tfjsSeed maps only 0, which TF.js would treat as no seed", () => {
    expect(tfjsSeed(0)).not.toBe(0);
    expect(tfjsSeed(7)).toBe(7);
    const draw = (s: number) => Array.from(tf.randomNormal([8], 0, 1, "float32", tfjsSeed(s)).dataSync());
    expect(draw(0)).toEqual(draw(0));
  });
});
