import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "./index";
import { maxPoolGradModuleBytes, maxPoolGradSimdRuns, setMaxPoolGradSimd } from "./max-pool-grad-simd";
import { maxPoolBackprop } from "./wasm-js-kernels";

beforeAll(async () => {
  const info = await initBackend({ prefer: "wasm", log: () => {} });
  expect(info.name).toBe("wasm");
  await tf.setBackend("wasm");
});

afterEach(() => setMaxPoolGradSimd(true));

type Shape4 = [number, number, number, number];
type Pad = "same" | "valid" | number;

/** Deterministic values in [-1, 1) (no Math.random in tests). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/** Inputs of one kind: smooth, or full of ties (ReLU zeros, a coarse grid, negative windows). */
function inputOf(kind: string, n: number, seed: number): Float32Array {
  const v = values(n, seed);
  switch (kind) {
    case "random":
      return v;
    case "relu-grid":
      return v.map((e) => Math.max(0, Math.round(e * 2) / 2));
    case "negative-grid":
      return v.map((e) => -1 - Math.round(Math.abs(e) * 2) / 2);
    case "zeros":
      return v.map((e) => (e < 0 ? -0 : 0));
    case "nan-inf":
      return v.map((e) => (e < -0.8 ? Number.NaN : e > 0.8 ? Number.NEGATIVE_INFINITY : Math.round(e * 2)));
    default:
      throw new Error(kind);
  }
}

function info(shape: Shape4, k: number, s: number, pad: Pad): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(shape, [k, k], [s, s], 1, pad);
}

/** MaxPoolGrad as the engine runs it (dy, x, and y = maxPool(x)), its bits. */
function kernelBits(shape: Shape4, x: Float32Array, dy: Float32Array, k: number, s: number, pad: Pad) {
  const out = tf.tidy(() => {
    const xt = tf.tensor4d(x, shape);
    const y = tf.maxPool(xt, k, s, pad);
    const dyt = tf.tensor(dy, y.shape);
    const dx = tf
      .engine()
      .runKernel(tf.MaxPoolGrad, { dy: dyt, input: xt, output: y }, { filterSize: k, strides: s, pad });
    if (!(dx instanceof tf.Tensor)) throw new Error("one tensor expected");
    return Float32Array.from(dx.dataSync());
  });
  return new Uint32Array(out.buffer);
}

/** The JS loop (maxPoolBackprop) on plain arrays, its bits. */
function referenceBits(shape: Shape4, x: Float32Array, dy: Float32Array, k: number, s: number, pad: Pad) {
  const dx = new Float32Array(x.length);
  maxPoolBackprop(x, dy, dx, info(shape, k, s, pad));
  return new Uint32Array(dx.buffer);
}

describe("MaxPoolGrad SIMD module", () => {
  it("validates (plain and shared memory)", () => {
    expect(WebAssembly.validate(maxPoolGradModuleBytes(false))).toBe(true);
    expect(WebAssembly.validate(maxPoolGradModuleBytes(true))).toBe(true);
  });
});

describe("MaxPoolGrad SIMD loop: the JS loop's bits", () => {
  const geometries: Array<[string, Shape4, number, number, Pad]> = [
    ["3x3/2 same, C=32", [2, 16, 16, 32], 3, 2, "same"],
    ["3x3/2 same odd, C=4", [2, 9, 7, 4], 3, 2, "same"],
    ["3x3/2 valid odd, C=8", [1, 9, 11, 8], 3, 2, "valid"],
    ["3x3/1 same, C=8", [2, 5, 6, 8], 3, 1, "same"],
    ["3x3/1 valid, C=4", [1, 7, 5, 4], 3, 1, "valid"],
    ["2x2/2 valid odd, C=4", [1, 7, 6, 4], 2, 2, "valid"],
    ["2x2/2 same odd, C=8", [2, 5, 7, 8], 2, 2, "same"],
    ["2x2/1 same, C=32", [1, 6, 5, 32], 2, 1, "same"],
    ["3x3/2 pad 1, C=4", [1, 8, 9, 4], 3, 2, 1],
  ];
  const kinds = ["random", "relu-grid", "negative-grid", "zeros", "nan-inf"];
  it.each(geometries)("%s, every kind of input", (_name, shape, k, s, pad) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const g = info(shape, k, s, pad);
    const dy = values(g.batchSize * g.outHeight * g.outWidth * g.inChannels, 5 + n);
    for (const [j, kind] of kinds.entries()) {
      const x = inputOf(kind, n, 11 + j);
      const before = maxPoolGradSimdRuns();
      const simd = kernelBits(shape, x, dy, k, s, pad);
      expect(maxPoolGradSimdRuns(), kind).toBe(before + 1);
      expect(simd, kind).toEqual(referenceBits(shape, x, dy, k, s, pad));
      setMaxPoolGradSimd(false);
      try {
        const js = kernelBits(shape, x, dy, k, s, pad);
        expect(maxPoolGradSimdRuns(), kind).toBe(before + 1);
        expect(simd, kind).toEqual(js);
      } finally {
        setMaxPoolGradSimd(true);
      }
    }
  });

  it("falls back to the JS loop where C % 4 != 0 (C = 3), same bits", () => {
    const shape: Shape4 = [2, 9, 7, 3];
    const n = shape.reduce((a, b) => a * b, 1);
    const g = info(shape, 3, 2, "same");
    const dy = values(g.batchSize * g.outHeight * g.outWidth * 3, 3);
    for (const kind of ["random", "relu-grid"]) {
      const x = inputOf(kind, n, 17);
      const before = maxPoolGradSimdRuns();
      const bits = kernelBits(shape, x, dy, 3, 2, "same");
      expect(maxPoolGradSimdRuns()).toBe(before);
      expect(bits).toEqual(referenceBits(shape, x, dy, 3, 2, "same"));
    }
  });

  it("leaks no tensors and no heap", () => {
    const shape: Shape4 = [2, 9, 7, 8];
    const n = shape.reduce((a, b) => a * b, 1);
    const g = info(shape, 3, 2, "same");
    const x = inputOf("relu-grid", n, 19);
    const dy = values(g.batchSize * g.outHeight * g.outWidth * 8, 23);
    kernelBits(shape, x, dy, 3, 2, "same");
    const before = tf.memory();
    for (let i = 0; i < 3; i++) kernelBits(shape, x, dy, 3, 2, "same");
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
  });
});

describe("tf.grads of tf.maxPool with the SIMD loop", () => {
  const shape: Shape4 = [2, 12, 10, 16];
  function grad(x: Float32Array, r: Float32Array): Uint32Array {
    const out = tf.tidy(() => {
      const rt = tf.tensor(r, tf.maxPool(tf.zeros(shape) as tf.Tensor4D, 3, 2, "same").shape);
      const [g] = tf.grads((a: tf.Tensor) =>
        tf.sum(tf.mul(tf.maxPool(tf.reshape<tf.Rank.R4>(a, shape), 3, 2, "same"), rt)),
      )([tf.tensor(x, shape)]);
      if (g === undefined) throw new Error("no gradient");
      return Float32Array.from(g.dataSync());
    });
    return new Uint32Array(out.buffer);
  }
  it("equals the JS loop bit for bit and tfjs-core's cpu kernel, ties included", async () => {
    const n = shape.reduce((a, b) => a * b, 1);
    const r = values(2 * 6 * 5 * 16, 29);
    for (const kind of ["random", "relu-grid", "negative-grid"]) {
      const x = inputOf(kind, n, 31);
      const tensorsBefore = tf.memory().numTensors;
      const before = maxPoolGradSimdRuns();
      const simd = grad(x, r);
      expect(maxPoolGradSimdRuns()).toBe(before + 1);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      setMaxPoolGradSimd(false);
      try {
        expect(simd).toEqual(grad(x, r));
      } finally {
        setMaxPoolGradSimd(true);
      }
      // The cpu kernel sums a pixel's overlapping windows in another order: equal to rounding.
      await tf.setBackend("cpu");
      try {
        const ours = new Float32Array(simd.buffer);
        const cpu = new Float32Array(grad(x, r).buffer);
        expect(ours.every((v, i) => Math.abs(v - (cpu[i] ?? Number.NaN)) <= 1e-6 * (1 + Math.abs(v)))).toBe(
          true,
        );
        expect(ours.some((v) => v !== 0)).toBe(true);
      } finally {
        await tf.setBackend("wasm");
      }
    }
  });
});
