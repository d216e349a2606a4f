import { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { batchNormTraining } from "./batch-norm";
import {
  batchNormModuleBytes,
  batchNormParams,
  batchNormSimdRuns,
  makeSimdBatchNorm,
  setBatchNormSimd,
} from "./batch-norm-simd";
import { initBackend } from "./index";
import { backendMemory } from "./wasm-asm";

beforeAll(async () => {
  const info = await initBackend({ prefer: "wasm", log: () => {} });
  expect(info.name).toBe("wasm");
  await tf.setBackend("wasm");
});

afterEach(() => setBatchNormSimd(true));

/** Deterministic values in [-1, 1) (no Math.random in tests). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

interface Case {
  x: Float32Array;
  shape: [number, number, number, number];
  mean: Float32Array;
  variance: Float32Array;
  offset: Float32Array | null;
  scale: Float32Array | null;
  eps: number;
}

function makeCase(shape: [number, number, number, number], withOffset: boolean, withScale: boolean): Case {
  const c = shape[3];
  const n = tf.util.sizeFromShape(shape);
  return {
    // Activations away from 0 with a mean of the same size as their spread, as after a ReLU.
    x: values(n, 1 + c).map((v) => 3 * v + 1.5),
    shape,
    mean: values(c, 2 + c).map((v) => v + 1.5),
    variance: values(c, 3 + c).map((v) => 2 * v * v + 0.05),
    offset: withOffset ? values(c, 4 + c) : null,
    scale: withScale ? values(c, 5 + c).map((v) => 2 * v) : null,
    eps: 1e-3,
  };
}

/** tf.batchNorm of the case (rank-1 statistics, or [1, 1, 1, C] ones). */
function batchNorm(k: Case, rank4Stats = false): Float32Array {
  return tf.tidy(() => {
    const c = k.shape[3];
    const stat = (v: Float32Array) => (rank4Stats ? tf.tensor4d(v, [1, 1, 1, c]) : tf.tensor1d(v));
    const y = tf.batchNorm(
      tf.tensor4d(k.x, k.shape),
      stat(k.mean),
      stat(k.variance),
      k.offset === null ? undefined : stat(k.offset),
      k.scale === null ? undefined : stat(k.scale),
      k.eps,
    );
    const data = y.dataSync();
    if (!(data instanceof Float32Array)) throw new Error("float32 expected");
    return data;
  });
}

/** Largest |y - ref| / (|offset| + |(x - mean) * scale / sqrt(variance + eps)|), ref in float64. */
function errorVsFloat64(k: Case, y: Float32Array): number {
  const c = k.shape[3];
  let worst = 0;
  for (let i = 0; i < y.length; i++) {
    const ch = i % c;
    const o = k.offset?.[ch] ?? 0;
    const t =
      (((k.x[i] ?? 0) - (k.mean[ch] ?? 0)) * (k.scale?.[ch] ?? 1)) / Math.sqrt((k.variance[ch] ?? 0) + k.eps);
    const err = Math.abs((y[i] ?? Number.NaN) - (o + t)) / (Math.abs(o) + Math.abs(t) + 1e-30);
    worst = Math.max(worst, err);
  }
  return worst;
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return ua.length === ub.length && ua.every((v, i) => v === ub[i]);
}

/** y with the backend's own kernel and with the SIMD loop, and how many SIMD runs the latter made. */
function bothKernels(
  k: Case,
  rank4Stats = false,
): { builtin: Float32Array; simd: Float32Array; runs: number } {
  setBatchNormSimd(false);
  const builtin = batchNorm(k, rank4Stats);
  setBatchNormSimd(true);
  const before = batchNormSimdRuns();
  const simd = batchNorm(k, rank4Stats);
  return { builtin, simd, runs: batchNormSimdRuns() - before };
}

describe("FusedBatchNorm SIMD on wasm", () => {
  it("builds a valid module for plain and shared memory", () => {
    expect(WebAssembly.validate(batchNormModuleBytes(false))).toBe(true);
    expect(WebAssembly.validate(batchNormModuleBytes(true))).toBe(true);
  });

  for (const c of [4, 16, 32]) {
    for (const [withOffset, withScale] of [
      [true, true],
      [false, false],
      [true, false],
      [false, true],
    ] as const) {
      it(`C=${c}, offset ${withOffset}, scale ${withScale}: the backend's bits, ~1e-7 of float64`, () => {
        const k = makeCase([3, 5, 7, c], withOffset, withScale); // N*H*W = 105, odd
        const { builtin, simd, runs } = bothKernels(k);
        expect(runs).toBe(1);
        expect(bitsEqual(simd, builtin)).toBe(true);
        expect(errorVsFloat64(k, simd)).toBeLessThan(1e-6);
      });
    }
  }

  for (const c of [3, 1, 6]) {
    it(`C=${c} falls back to the backend's kernel`, () => {
      const k = makeCase([2, 3, 5, c], true, true);
      const { builtin, simd, runs } = bothKernels(k);
      expect(runs).toBe(0);
      expect(bitsEqual(simd, builtin)).toBe(true);
      expect(errorVsFloat64(k, simd)).toBeLessThan(1e-6);
    });
  }

  it("takes [1, 1, 1, C] statistics; falls back for statistics of x's full shape", () => {
    const k = makeCase([1, 3, 3, 8], true, true);
    const r4 = bothKernels(k, true);
    expect(r4.runs).toBe(1);
    expect(bitsEqual(r4.simd, r4.builtin)).toBe(true);
    const full = tf.util.sizeFromShape(k.shape);
    const wide: Case = {
      ...k,
      mean: values(full, 9),
      variance: values(full, 10).map((v) => v * v + 0.1),
      offset: values(full, 11),
      scale: values(full, 12),
    };
    const run = () =>
      tf.tidy(() => {
        const t = (v: Float32Array | null) => (v === null ? undefined : tf.tensor4d(v, k.shape));
        const x = tf.tensor4d(wide.x, k.shape);
        const m = tf.tensor4d(wide.mean, k.shape);
        const v = tf.tensor4d(wide.variance, k.shape);
        return tf.batchNorm4d(x, m, v, t(wide.offset), t(wide.scale), wide.eps).dataSync();
      });
    setBatchNormSimd(false);
    const builtin = run();
    setBatchNormSimd(true);
    const before = batchNormSimdRuns();
    const ours = run();
    expect(batchNormSimdRuns() - before).toBe(0);
    expect(Array.from(ours)).toEqual(Array.from(builtin));
  });

  it("keeps ranks 1-3 (reshaped to 4 by tf.batchNorm) and large values exact", () => {
    const c = 12;
    const x = values(5 * c, 21).map((v) => v * 1e4);
    const mean = values(c, 22).map((v) => v * 1e4);
    const variance = values(c, 23).map((v) => v * v * 1e6 + 1);
    const run = () =>
      tf.tidy(() =>
        tf.batchNorm2d(tf.tensor2d(x, [5, c]), tf.tensor1d(mean), tf.tensor1d(variance)).dataSync(),
      );
    setBatchNormSimd(false);
    const builtin = run();
    setBatchNormSimd(true);
    const before = batchNormSimdRuns();
    const ours = run();
    expect(batchNormSimdRuns() - before).toBe(1);
    expect(Array.from(ours)).toEqual(Array.from(builtin));
  });

  it("runs the module directly over the backend's memory", () => {
    const backend = tf.backend();
    if (!(backend instanceof BackendWasm)) throw new Error("wasm backend expected");
    const memory = backendMemory(backend.wasm);
    expect(memory).not.toBeNull();
    if (memory === null) return;
    const simd = makeSimdBatchNorm(memory);
    expect(simd).not.toBeNull();
    if (simd === null) return;
    const c = 8;
    const k = makeCase([1, 1, 3, c], true, true);
    const params = batchNormParams(k.mean, k.variance, k.offset, k.scale, k.eps);
    const f32 = (t: tf.TensorInfo) => {
      const v = backend.typedArrayFromHeap(t);
      if (!(v instanceof Float32Array)) throw new Error("float32 expected");
      return v;
    };
    const x = backend.makeOutput([k.x.length], "float32", undefined, k.x);
    const out = backend.makeOutput([k.x.length], "float32");
    const block = backend.makeOutput(
      [params.length / 4],
      "float32",
      undefined,
      new Float32Array(params.buffer, params.byteOffset, params.byteLength / 4),
    );
    try {
      const [px, po, pp] = [x, out, block].map((t) => f32(t).byteOffset);
      if (px === undefined || po === undefined || pp === undefined) throw new Error("unreachable");
      simd.run(px, po, pp, k.x.length, c);
      expect(errorVsFloat64(k, Float32Array.from(f32(out)))).toBeLessThan(1e-6);
      expect(() => simd.run(px, po, pp, k.x.length, 6)).toThrow(/multiple of 4/);
    } finally {
      for (const t of [x, out, block]) backend.disposeData(t.dataId, true);
    }
  });

  it("leaves batchNormTraining's outputs and gradients unchanged, and leaks no tensors", () => {
    const shape: [number, number, number, number] = [3, 5, 7, 16];
    const x = tf.tensor4d(values(tf.util.sizeFromShape(shape), 31), shape);
    const gamma = tf.tensor1d(values(16, 32).map((v) => v + 1.2));
    const beta = tf.tensor1d(values(16, 33));
    const r = tf.tensor4d(values(tf.util.sizeFromShape(shape), 34), shape);
    const run = () =>
      tf.tidy(() => {
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(batchNormTraining(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D).y, r));
        const { value, grads } = tf.valueAndGrads(f)([x, gamma, beta]);
        const y = batchNormTraining(x, gamma, beta).y;
        return [y, value, ...grads].map((t) => Float32Array.from(t.dataSync()));
      });
    run(); // warm-up (kernel set-up, module instantiation)
    const before = tf.memory().numTensors;
    setBatchNormSimd(false);
    const builtin = run();
    setBatchNormSimd(true);
    const runs = batchNormSimdRuns();
    const ours = run();
    // Forward twice (the gradient pass and the plain call) and twice in each backward pass.
    expect(batchNormSimdRuns() - runs).toBeGreaterThanOrEqual(4);
    expect(tf.memory().numTensors).toBe(before);
    expect(ours.length).toBe(5);
    for (const [i, a] of ours.entries()) {
      const b = builtin[i];
      if (b === undefined) throw new Error("missing output");
      expect(bitsEqual(a, b)).toBe(true);
    }
    tf.dispose([x, gamma, beta, r]);
  });

  it("gives tfjs-layers' BatchNormalization the same inference outputs", () => {
    const run = () =>
      tf.tidy(() => {
        const bn = tfl.layers.batchNormalization({ epsilon: 1e-3, inputShape: [4, 5, 8] });
        const model = tfl.sequential({ layers: [bn] });
        model.setWeights(
          model.getWeights().map((w, i) => {
            const v = values(w.size, 40 + i);
            return tf.tensor(i === 3 ? v.map((a) => a * a + 0.1) : v, w.shape);
          }),
        );
        const y = model.predict(tf.tensor4d(values(2 * 4 * 5 * 8, 45), [2, 4, 5, 8]));
        if (Array.isArray(y)) throw new Error("one output expected");
        const data = Float32Array.from(y.dataSync());
        model.dispose();
        return data;
      });
    setBatchNormSimd(false);
    const builtin = run();
    setBatchNormSimd(true);
    const before = batchNormSimdRuns();
    const ours = run();
    expect(batchNormSimdRuns() - before).toBe(1);
    expect(bitsEqual(ours, builtin)).toBe(true);
  });
});
