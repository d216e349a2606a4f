import { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "./index";
import { makeSimdReduce, reduceModuleBytes, reduceSimdRuns, setReduceSimd } from "./reduce-simd";
import { reduceMiddle } from "./wasm-js-kernels";

beforeAll(async () => {
  const info = await initBackend({ prefer: "wasm", log: () => {} });
  expect(info.name).toBe("wasm");
  await tf.setBackend("wasm");
});

afterEach(() => setReduceSimd(true));

/** Deterministic values in [lo, lo + 6) (no Math.random in tests): away from 0, so sums grow. */
function values(n: number, seed: number, lo = -1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 6 + lo;
  });
}

/** float64 sums of x ([outer, reduce, inner]) over the middle axis, times scale. */
function reference(
  x: Float32Array,
  outer: number,
  reduce: number,
  inner: number,
  scale: number,
): Float64Array {
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < reduce; r++) {
      for (let c = 0; c < inner; c++)
        out[o * inner + c] = (out[o * inner + c] ?? 0) + (x[(o * reduce + r) * inner + c] ?? 0);
    }
  }
  return out.map((v) => v * scale);
}

function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] ?? 0) - (b[i] ?? 0)) / Math.max(1e-12, Math.abs(b[i] ?? 0));
    worst = Math.max(worst, d);
  }
  return worst;
}

/** Indices where a and b differ as float32 bits (Object.is: -0 and NaN count too). */
function bitDiffs(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  expect(a.length).toBe(b.length);
  const diffs: number[] = [];
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) diffs.push(i);
  return diffs;
}

describe("the SIMD reduce module on its own memory", () => {
  it("validates (shared and unshared memory)", () => {
    expect(WebAssembly.validate(reduceModuleBytes(false))).toBe(true);
    expect(WebAssembly.validate(reduceModuleBytes(true))).toBe(true);
  });

  // Blocks of max(1, floor(4096 / inner)) rows: several blocks, odd and even remainders.
  const views: Array<[number, number, number]> = [
    [1, 1, 4],
    [2, 3, 4],
    [3, 1517, 4],
    [2, 117, 64],
    [4, 1000, 16],
    [1, 4097, 8],
    [2, 5, 1024],
    [3, 130, 36],
  ];
  it.each(views)(
    "[%i, %i, %i]: the bits of the JS reduceMiddle, near the float64 reference",
    (outer, reduce, inner) => {
      const memory = new WebAssembly.Memory({ initial: 2 });
      const simd = makeSimdReduce(memory);
      expect(simd).not.toBeNull();
      const n = outer * reduce * inner;
      const xAt = 48;
      const outAt = xAt + 4 * n + 16;
      const accAt = outAt + 4 * outer * inner + 8;
      const bytes = accAt + 8 * inner;
      if (memory.buffer.byteLength < bytes)
        memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
      const x = new Float32Array(memory.buffer, xAt, n);
      x.set(values(n, outer * 131 + inner));
      // Garbage in the scratch block: the loop must clear it.
      new Float64Array(memory.buffer, accAt, inner).fill(123.5);
      for (const scale of [1, 1 / reduce]) {
        simd?.run(xAt, outAt, accAt, outer, reduce, inner, scale);
        const got = Array.from(new Float32Array(memory.buffer, outAt, outer * inner));
        const js = new Float32Array(outer * inner);
        reduceMiddle(x, js, { outer, reduce, inner, outShape: [outer, inner] }, scale);
        expect(bitDiffs(got, js)).toEqual([]);
        expect(maxRelative(got, reference(x, outer, reduce, inner, scale))).toBeLessThan(1e-6);
      }
      // Nothing written past the output.
      expect(new Float32Array(memory.buffer, outAt + 4 * outer * inner, 2)).toEqual(new Float32Array(2));
    },
  );

  it("rejects an inner size that is not a multiple of 4", () => {
    const simd = makeSimdReduce(new WebAssembly.Memory({ initial: 1 }));
    expect(() => simd?.run(0, 0, 0, 1, 2, 6, 1)).toThrow(/multiple of 4/);
  });
});

describe("wasm Sum / Mean / moments through the SIMD loop", () => {
  const shapes: Array<[number, number, number, number]> = [
    [2, 5, 3, 4],
    [3, 7, 6, 16],
    [2, 9, 13, 64],
    [2, 4, 5, 3], // C = 3: the JS loop
  ];
  const cases = shapes.flatMap((shape) => [
    { shape, axes: [0, 1, 2] },
    { shape, axes: [1, 2] },
  ]);

  /** [outer, reduce, inner] of a contiguous run of axes. */
  function viewOf(shape: number[], axes: number[]): [number, number, number] {
    const first = axes[0] ?? 0;
    const last = axes[axes.length - 1] ?? 0;
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    return [size(shape.slice(0, first)), size(shape.slice(first, last + 1)), size(shape.slice(last + 1))];
  }

  it.each(cases.map((k) => [JSON.stringify(k.shape), JSON.stringify(k.axes), k] as const))(
    "%s over %s: tf.sum and tf.mean (keepDims on/off) are the JS loop's bits and near float64",
    (_s, _a, { shape, axes }) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = values(n, n + axes.length);
      const [outer, reduce, inner] = viewOf(shape, axes);
      const simdApplies = inner % 4 === 0;
      for (const mean of [false, true]) {
        for (const keepDims of [false, true]) {
          const run = (on: boolean) => {
            setReduceSimd(on);
            const before = reduceSimdRuns();
            const y = tf.tidy(() => {
              const t = tf.tensor4d(x, shape);
              const r = mean ? tf.mean(t, axes, keepDims) : tf.sum(t, axes, keepDims);
              return { shape: r.shape, data: r.dataSync() };
            });
            return { ...y, simdRuns: reduceSimdRuns() - before };
          };
          const js = run(false);
          const simd = run(true);
          expect(js.simdRuns).toBe(0);
          expect(simd.simdRuns).toBe(simdApplies ? 1 : 0);
          const expected = keepDims
            ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
            : shape.filter((_, i) => !axes.includes(i));
          expect(simd.shape).toEqual(expected);
          expect(js.shape).toEqual(expected);
          expect(bitDiffs(simd.data, js.data)).toEqual([]);
          const ref = reference(x, outer, reduce, inner, mean ? 1 / reduce : 1);
          expect(maxRelative(simd.data, ref)).toBeLessThan(1e-6);
        }
      }
    },
  );

  it("tf.moments over N, H, W and over H, W: the same bits either way, near float64", () => {
    const shape: [number, number, number, number] = [4, 6, 5, 8];
    const n = shape.reduce((a, b) => a * b, 1);
    // A large mean against the spread, as after a ReLU.
    const x = values(n, 77, 2);
    for (const axes of [
      [0, 1, 2],
      [1, 2],
    ]) {
      const run = (on: boolean) => {
        setReduceSimd(on);
        const before = reduceSimdRuns();
        const r = tf.tidy(() => {
          const m = tf.moments(tf.tensor4d(x, shape), axes);
          return { mean: m.mean.dataSync(), variance: m.variance.dataSync() };
        });
        return { ...r, simdRuns: reduceSimdRuns() - before };
      };
      const js = run(false);
      const simd = run(true);
      expect(simd.simdRuns).toBeGreaterThanOrEqual(2);
      expect(bitDiffs(simd.mean, js.mean)).toEqual([]);
      expect(bitDiffs(simd.variance, js.variance)).toEqual([]);
      const [outer, reduce, inner] = viewOf(shape, axes);
      const mean = reference(x, outer, reduce, inner, 1 / reduce);
      const sq = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const o = Math.floor(i / (reduce * inner));
        const d = (x[i] ?? 0) - (mean[o * inner + (i % inner)] ?? 0);
        sq[i] = d * d;
      }
      expect(maxRelative(simd.mean, mean)).toBeLessThan(1e-6);
      // The variance is a mean of float32 squared differences from a float32 mean.
      expect(maxRelative(simd.variance, reference(sq, outer, reduce, inner, 1 / reduce))).toBeLessThan(1e-5);
    }
  });

  it("leaks no tensors and no heap data (the scratch block is freed)", () => {
    const backend = tf.backend();
    expect(backend).toBeInstanceOf(BackendWasm);
    const x = tf.tensor4d(values(2 * 3 * 4 * 8, 5), [2, 3, 4, 8]);
    const before = tf.memory().numTensors;
    const ids = backend.numDataIds();
    const runs = reduceSimdRuns();
    const y = tf.sum(x, [0, 1, 2]);
    const z = tf.mean(x, [1, 2], true);
    expect(reduceSimdRuns() - runs).toBe(2);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(backend.numDataIds()).toBe(ids + 2);
    y.dispose();
    z.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(backend.numDataIds()).toBe(ids);
    x.dispose();
  });
});
