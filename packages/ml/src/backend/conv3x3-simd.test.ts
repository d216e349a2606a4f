import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  conv3x3Applies,
  conv3x3Simd,
  conv3x3SimdRuns,
  packConv3x3Filter,
  relaxedSimdAvailable,
  setConv3x3Fma,
  setConv3x3Simd,
} from "./conv3x3-simd";
import { initBackend } from "./index";

beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
});

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

async function check(
  n: number,
  h: number,
  w: number,
  c: number,
  co: number,
  relu: boolean,
  stride = 1,
): Promise<number> {
  const x = tf.tensor4d(rand(n * h * w * c, 1 + c), [n, h, w, c]);
  const fw = rand(9 * c * co, 2 + co);
  const filter = tf.tensor4d(fw, [3, 3, c, co]);
  const bias = tf.tensor1d(rand(co, 3));
  const packed = tf.tensor1d(packConv3x3Filter(fw, c, co));
  expect(conv3x3Applies(w, co, stride)).toBe(true);
  const runs = conv3x3SimdRuns();
  const got = conv3x3Simd(x, packed, bias, relu, stride);
  expect(conv3x3SimdRuns()).toBe(runs + 1);
  const want = tf.fused.conv2d({
    x,
    filter,
    strides: stride,
    pad: "same",
    bias,
    activation: relu ? "relu" : "linear",
  });
  expect(got.shape).toEqual(want.shape);
  const a = await got.data();
  const b = await want.data();
  let err = 0;
  for (let i = 0; i < b.length; i++) err = Math.max(err, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  if (relu) expect([...a].every((v) => v >= 0)).toBe(true);
  tf.dispose([x, filter, bias, packed, got, want]);
  return err;
}

describe("3x3 convolution as a wasm SIMD loop", () => {
  // [n, h, w, c, co, relu, stride]
  const shapes: Array<[number, number, number, number, number, boolean, number]> = [
    [2, 8, 8, 16, 16, true, 1], // a first stage
    [1, 5, 12, 1, 16, false, 1], // the small stem: one input channel, odd height
    [3, 4, 4, 32, 24, true, 1], // three channel blocks, a one-tile row
    [1, 7, 8, 5, 8, false, 1], // odd input channels
    [2, 6, 16, 64, 64, true, 1], // a last stage
    [2, 8, 8, 16, 32, true, 2], // a stage's strided first convolution: pads 0 before, 1 after
    [1, 9, 7, 8, 16, false, 2], // odd height and width: pads 1 and 1
    [1, 6, 16, 3, 8, true, 2], // two tiles per row
  ];
  for (const fma of [false, true]) {
    it(`matches tf.fused.conv2d (same, stride 1 and 2, bias, ReLU or not) ${fma ? "with relaxed-SIMD madd" : "with mul + add"}`, async () => {
      // initBackend turns relaxed SIMD on (a flag in Node 20's V8, on by default later).
      if (fma) expect(relaxedSimdAvailable()).toBe(true);
      setConv3x3Fma(fma);
      try {
        for (const [n, h, w, c, co, relu, stride] of shapes) {
          const err = await check(n, h, w, c, co, relu, stride);
          // Sums of 9C products of values in [-0.5, 0.5): float32 rounding only.
          expect(err, `${n}x${h}x${w}x${c} -> ${co} /${stride}`).toBeLessThan(1e-5);
        }
      } finally {
        setConv3x3Fma(true);
      }
    });
  }

  it("applies only where it can (output width a multiple of 4, output channels of 8, stride 1 or 2) and can be switched off", () => {
    expect(conv3x3Applies(8, 16)).toBe(true);
    expect(conv3x3Applies(7, 16)).toBe(false);
    expect(conv3x3Applies(8, 12)).toBe(false);
    expect(conv3x3Applies(7, 16, 2)).toBe(true); // 4 output columns
    expect(conv3x3Applies(8, 16, 2)).toBe(true);
    expect(conv3x3Applies(12, 16, 2)).toBe(false); // 6 output columns
    expect(conv3x3Applies(8, 16, 3)).toBe(false);
    setConv3x3Simd(false);
    expect(conv3x3Applies(8, 16)).toBe(false);
    setConv3x3Simd(true);
    expect(() => packConv3x3Filter(new Float32Array(9 * 4 * 12), 4, 12)).toThrow(/multiple of 8/);
  });

  it("leaks no tensors", () => {
    const x = tf.zeros([1, 4, 4, 8]) as tf.Tensor4D;
    const packed = tf.tensor1d(packConv3x3Filter(new Float32Array(9 * 8 * 8), 8, 8));
    const bias = tf.zeros([8]) as tf.Tensor1D;
    conv3x3Simd(x, packed, bias, true).dispose();
    const before = tf.memory().numTensors;
    conv3x3Simd(x, packed, bias, true).dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, packed, bias]);
  });
});
