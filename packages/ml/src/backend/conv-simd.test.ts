import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  convSimd,
  convSimdApplies,
  convSimdRuns,
  convWinogradRuns,
  maxPoolSimd,
  maxPoolSimdApplies,
  maxPoolSimdRuns,
  packConvFilter,
  packWinogradFilter,
  relaxedSimdAvailable,
  setConvSimd,
  setConvSimdFma,
  setConvWinograd,
} from "./conv-simd";
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

/**
 * How far the map inside `got`'s border of `pad` pixels is from `want` (largest |difference|), and
 * the sum of |values| in the border (0 when the loop wrote it as zeros).
 */
async function compareInner(
  got: tf.Tensor4D,
  want: tf.Tensor,
  pad: number,
): Promise<{ err: number; border: number }> {
  const [n = 0, h = 0, w = 0, c = 0] = got.shape;
  const inner = tf.slice(got, [0, pad, pad, 0], [n, h - 2 * pad, w - 2 * pad, c]);
  const a = await inner.data();
  const b = await want.data();
  expect(a.length).toBe(b.length);
  let err = 0;
  for (let i = 0; i < b.length; i++) err = Math.max(err, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  const border = ((await got.abs().sum().data())[0] ?? 0) - ((await inner.abs().sum().data())[0] ?? 0);
  inner.dispose();
  return { err, border };
}

async function check(
  n: number,
  h: number,
  w: number,
  c: number,
  co: number,
  relu: boolean,
  stride = 1,
  k = 3,
): Promise<number> {
  const x = tf.tensor4d(rand(n * h * w * c, 1 + c), [n, h, w, c]);
  const fw = rand(k * k * c * co, 2 + co);
  const filter = tf.tensor4d(fw, [k, k, c, co]);
  const bias = tf.tensor1d(rand(co, 3));
  const packed = tf.tensor1d(packConvFilter(fw, k, c, co));
  expect(convSimdApplies(w, co, stride)).toBe(true);
  const runs = convSimdRuns();
  const got = convSimd(x, packed, bias, relu, stride, k);
  expect(convSimdRuns()).toBe(runs + 1);
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

describe("convolution as a wasm SIMD loop", () => {
  // [n, h, w, c, co, relu, stride, k]
  const shapes: Array<[number, number, number, number, number, boolean, number, number?]> = [
    [2, 8, 8, 16, 16, true, 1], // a first stage
    [1, 5, 12, 1, 16, false, 1], // the small stem: one input channel, odd height
    [3, 4, 4, 32, 24, true, 1], // three channel blocks, a one-tile row
    [1, 7, 8, 5, 8, false, 1], // odd input channels
    [2, 6, 16, 64, 64, true, 1], // a last stage
    [2, 8, 8, 16, 32, true, 2], // a stage's strided first convolution: pads 0 before, 1 after
    [1, 9, 7, 8, 16, false, 2], // odd height and width: pads 1 and 1
    [1, 6, 16, 3, 8, true, 2], // two tiles per row
    [2, 16, 16, 1, 16, true, 2, 7], // the large stem: 7 x 7 / 2 on one channel, pads 2 and 3
    [1, 13, 15, 1, 8, false, 2, 7], // odd sizes: pads 3 and 3
    [2, 8, 8, 16, 32, false, 2, 1], // a 1 x 1 / 2 shortcut: no padding
    [1, 5, 8, 4, 8, true, 1, 5], // 5 x 5, stride 1
  ];
  for (const fma of [false, true]) {
    it(`matches tf.fused.conv2d (same, 1x1 to 7x7, stride 1 and 2, bias, ReLU or not) ${fma ? "with relaxed-SIMD madd" : "with mul + add"}`, async () => {
      // initBackend turns relaxed SIMD on (a flag in Node 20's V8, on by default later).
      if (fma) expect(relaxedSimdAvailable()).toBe(true);
      setConvSimdFma(fma);
      try {
        for (const [n, h, w, c, co, relu, stride, k = 3] of shapes) {
          const err = await check(n, h, w, c, co, relu, stride, k);
          // Sums of k*k*C products of values in [-0.5, 0.5): float32 rounding only.
          expect(err, `${n}x${h}x${w}x${c} -> ${co}, ${k}x${k}/${stride}`).toBeLessThan(1e-5);
        }
      } finally {
        setConvSimdFma(true);
      }
    });
  }

  it("applies only where it can (output width a multiple of 4, output channels of 8, stride 1 or 2) and can be switched off", () => {
    expect(convSimdApplies(8, 16)).toBe(true);
    expect(convSimdApplies(7, 16)).toBe(false);
    expect(convSimdApplies(8, 12)).toBe(false);
    expect(convSimdApplies(7, 16, 2)).toBe(true); // 4 output columns
    expect(convSimdApplies(8, 16, 2)).toBe(true);
    expect(convSimdApplies(12, 16, 2)).toBe(false); // 6 output columns
    expect(convSimdApplies(8, 16, 3)).toBe(false);
    setConvSimd(false);
    expect(convSimdApplies(8, 16)).toBe(false);
    setConvSimd(true);
    expect(() => packConvFilter(new Float32Array(9 * 4 * 12), 3, 4, 12)).toThrow(/multiple of 8/);
    expect(() => packConvFilter(new Float32Array(9 * 4 * 8), 5, 4, 8)).toThrow(/not \[5, 5, 4, 8\]/);
  });

  // [n, h, w, c, co, stride, k, inPad, outPad, resPad (-1: no residual), relu]
  const bordered: Array<
    [number, number, number, number, number, number, number, number, number, number, boolean]
  > = [
    [2, 8, 8, 16, 16, 1, 3, 1, 1, 1, true], // a block's second convolution: all three maps bordered
    [1, 8, 8, 16, 16, 1, 3, 2, 0, 0, false], // a wider border than needed; residual without one
    [2, 8, 8, 16, 32, 2, 3, 1, 1, -1, true], // strided first convolution reading a bordered map
    [2, 8, 8, 16, 32, 2, 1, 1, 0, -1, false], // the 1 x 1 / 2 shortcut reading the same map
    [1, 5, 12, 1, 8, 1, 3, 0, 2, 2, true], // an unbordered input (copied), bordered output and residual
  ];
  it("reads a bordered input in place, writes its output with a zero border, adds a residual before the ReLU", async () => {
    for (const [n, h, w, c, co, stride, k, inPad, outPad, resPad, relu] of bordered) {
      const label = `${n}x${h}x${w}x${c} -> ${co}, ${k}x${k}/${stride}, borders ${inPad}/${outPad}/${resPad}`;
      const x = tf.tensor4d(rand(n * h * w * c, 5 + c), [n, h, w, c]);
      const fw = rand(k * k * c * co, 6 + co);
      const filter = tf.tensor4d(fw, [k, k, c, co]);
      const bias = tf.tensor1d(rand(co, 7));
      const packed = tf.tensor1d(packConvFilter(fw, k, c, co));
      const [ho, wo] = [Math.ceil(h / stride), Math.ceil(w / stride)];
      const res = resPad >= 0 ? tf.tensor4d(rand(n * ho * wo * co, 8), [n, ho, wo, co]) : undefined;
      // The residual's border holds junk: the loop must not read it.
      const resB =
        res && resPad >= 0
          ? tf.pad(
              res,
              [
                [0, 0],
                [resPad, resPad],
                [resPad, resPad],
                [0, 0],
              ],
              9,
            )
          : undefined;
      const xB = tf.pad(x, [
        [0, 0],
        [inPad, inPad],
        [inPad, inPad],
        [0, 0],
      ]);
      // Leave junk in freed memory the output may be given.
      tf.fill([n, ho + 2 * outPad, wo + 2 * outPad, co], 5).dispose();
      const got = convSimd(xB as tf.Tensor4D, packed, bias, relu, stride, k, {
        inPad,
        outPad,
        residual: resB as tf.Tensor4D | undefined,
        resPad: Math.max(resPad, 0),
      });
      expect(got.shape, label).toEqual([n, ho + 2 * outPad, wo + 2 * outPad, co]);
      const want = tf.tidy(() => {
        const y = tf.add(tf.conv2d(x, filter, stride, "same"), bias);
        const z = res ? tf.add(y, res) : y;
        return relu ? tf.relu(z) : z;
      });
      const { err, border } = await compareInner(got, want, outPad);
      expect(err, label).toBeLessThan(1e-5);
      // Everything outside the inner map is zero.
      expect(border, label).toBeCloseTo(0, 3);
      tf.dispose([x, filter, bias, packed, res, resB, xB, got, want].filter((t) => t !== undefined));
    }
  });

  it("scales and shifts an unbordered input as it copies it (the plan's input normalization); the border stays zero", async () => {
    // [h, w, c, k, stride]: odd row lengths exercise the copy's scalar tail.
    for (const [h, w, c, k, stride] of [
      [9, 8, 1, 3, 1],
      [16, 16, 1, 7, 2],
      [6, 7, 3, 3, 2],
      [4, 8, 2, 1, 1],
    ] as const) {
      const x = tf.tensor4d(rand(2 * h * w * c, 11), [2, h, w, c]);
      const fw = rand(k * k * c * 8, 12);
      const filter = tf.tensor4d(fw, [k, k, c, 8]);
      const bias = tf.tensor1d(rand(8, 13));
      const packed = tf.tensor1d(packConvFilter(fw, k, c, 8));
      const got = convSimd(x, packed, bias, false, stride, k, { inScale: 1 / 0.21, inShift: -0.45 / 0.21 });
      const want = tf.tidy(() =>
        tf.add(tf.conv2d(tf.div(tf.sub(x, 0.45), 0.21) as tf.Tensor4D, filter, stride, "same"), bias),
      );
      const a = await got.data();
      const b = await want.data();
      let err = 0;
      for (let i = 0; i < b.length; i++) err = Math.max(err, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
      expect(err, `${h}x${w}x${c}, ${k}x${k}/${stride}`).toBeLessThan(1e-4);
      tf.dispose([x, filter, bias, packed, got, want]);
    }
  });

  it("sums a 1 x 1 projection shortcut of another map into the same output (stride 1 or 2, bordered or not)", async () => {
    // [n, ho, wo, c, co, hx, wx, c1, s1, xPad, inPad, outPad, relu]
    const cases = [
      [2, 4, 4, 32, 32, 8, 8, 16, 2, 1, 1, 0, true], // a stage's second convolution + its shortcut
      [1, 4, 8, 16, 16, 7, 16, 8, 2, 0, 0, 1, false], // odd shortcut height, unbordered maps
      [1, 4, 4, 8, 24, 4, 4, 16, 1, 2, 1, 1, true], // stride-1 projection (channels change only)
    ] as const;
    for (const [n, ho, wo, c, co, hx, wx, c1, s1, xPad, inPad, outPad, relu] of cases) {
      const label = `${ho}x${wo}x${c} -> ${co} + 1x1/${s1} of ${hx}x${wx}x${c1}`;
      const h = tf.tensor4d(rand(n * ho * wo * c, 21), [n, ho, wo, c]);
      const sx = tf.tensor4d(rand(n * hx * wx * c1, 22), [n, hx, wx, c1]);
      const fw = rand(9 * c * co, 23);
      const fs = rand(c1 * co, 24);
      const [b2, bs] = [rand(co, 25), rand(co, 26)];
      const packed = tf.tensor1d(packConvFilter(fw, 3, c, co));
      const packedS = tf.tensor1d(packConvFilter(fs, 1, c1, co));
      const bias = tf.tensor1d(b2.map((v, i) => v + (bs[i] ?? 0)));
      const hB = tf.pad(h, [
        [0, 0],
        [inPad, inPad],
        [inPad, inPad],
        [0, 0],
      ]) as tf.Tensor4D;
      const sxB = tf.pad(sx, [
        [0, 0],
        [xPad, xPad],
        [xPad, xPad],
        [0, 0],
      ]) as tf.Tensor4D;
      const got = convSimd(hB, packed, bias, relu, 1, 3, {
        inPad,
        outPad,
        shortcut: { x: sxB, packed: packedS, pad: xPad, stride: s1 },
      });
      const want = tf.tidy(() => {
        const main = tf.add(tf.conv2d(h, tf.tensor4d(fw, [3, 3, c, co]), 1, "same"), b2);
        const proj = tf.add(tf.conv2d(sx, tf.tensor4d(fs, [1, 1, c1, co]), s1, "same"), bs);
        const sum = tf.add(main, proj);
        return relu ? tf.relu(sum) : sum;
      });
      const { err, border } = await compareInner(got, want, outPad);
      expect(err, label).toBeLessThan(1e-5);
      expect(border, label).toBeCloseTo(0, 3);
      tf.dispose([h, sx, packed, packedS, bias, hB, sxB, got, want]);
    }
    const x = tf.zeros([1, 4, 4, 8]) as tf.Tensor4D;
    const p3 = tf.tensor1d(packConvFilter(new Float32Array(9 * 8 * 8), 3, 8, 8));
    const p1 = tf.tensor1d(packConvFilter(new Float32Array(8 * 8), 1, 8, 8));
    const bias = tf.zeros([8]) as tf.Tensor1D;
    const wrong = tf.zeros([1, 10, 10, 8]) as tf.Tensor4D;
    expect(() =>
      convSimd(x, p3, bias, true, 1, 3, { shortcut: { x: wrong, packed: p1, stride: 2 } }),
    ).toThrow(/shortcut's input must be/);
    tf.dispose([x, p3, p1, bias, wrong]);
  });

  it("max-pools a non-negative bordered map like tf.maxPool (same, 3 x 3 / 2 and 3 x 3 / 1), writing a zero border", async () => {
    // [n, h, w, c, k, stride, inPad, outPad]
    const cases = [
      [2, 8, 8, 16, 3, 2, 1, 1], // after the large stem: pads 0 before, 1 after
      [1, 7, 9, 8, 3, 2, 1, 0], // odd sizes: pads 1 and 1
      [1, 6, 6, 4, 3, 1, 2, 2], // stride 1, a wider border than needed
      [1, 5, 5, 4, 5, 2, 2, 0], // 5 x 5 / 2
    ] as const;
    for (const [n, h, w, c, k, stride, inPad, outPad] of cases) {
      const label = `${n}x${h}x${w}x${c}, ${k}x${k}/${stride}, borders ${inPad}/${outPad}`;
      expect(maxPoolSimdApplies(c, [k, k], [stride, stride], "same")).toBe(true);
      // Non-negative, with exact zeros (ReLU output) so border zeros tie with real ones.
      const x = tf.tidy(() => tf.relu(tf.tensor4d(rand(n * h * w * c, 31 + c), [n, h, w, c])));
      const xB = tf.pad(x, [
        [0, 0],
        [inPad, inPad],
        [inPad, inPad],
        [0, 0],
      ]) as tf.Tensor4D;
      tf.fill([n, 8, 8, c], 7).dispose();
      const runs = maxPoolSimdRuns();
      const got = maxPoolSimd(xB, k, stride, inPad, outPad);
      expect(maxPoolSimdRuns()).toBe(runs + 1);
      const want = tf.maxPool(x, k, stride, "same");
      const [ho, wo] = [Math.ceil(h / stride), Math.ceil(w / stride)];
      expect(got.shape, label).toEqual([n, ho + 2 * outPad, wo + 2 * outPad, c]);
      const { err, border } = await compareInner(got, want, outPad);
      expect(err, label).toBe(0); // a max is exact
      expect(border, label).toBeCloseTo(0, 3);
      tf.dispose([x, xB, got, want]);
    }
    expect(maxPoolSimdApplies(6, [3, 3], [2, 2], "same")).toBe(false); // channels not a multiple of 4
    expect(maxPoolSimdApplies(8, [3, 3], [2, 2], "valid")).toBe(false);
    expect(maxPoolSimdApplies(8, [2, 2], [2, 2], "same")).toBe(false);
    const x = tf.zeros([1, 8, 8, 4]) as tf.Tensor4D;
    expect(() => maxPoolSimd(x, 3, 2, 0)).toThrow(/border \(0\) is narrower/);
    x.dispose();
  });

  it("refuses a border narrower than the kernel needs and a residual of the wrong shape", () => {
    const x = tf.zeros([1, 10, 10, 8]) as tf.Tensor4D; // an 8 x 8 map with a border of 1
    const packed = tf.tensor1d(packConvFilter(new Float32Array(25 * 8 * 8), 5, 8, 8));
    const packed3 = tf.tensor1d(packConvFilter(new Float32Array(9 * 8 * 8), 3, 8, 8));
    const bias = tf.zeros([8]) as tf.Tensor1D;
    const res = tf.zeros([1, 9, 9, 8]) as tf.Tensor4D;
    expect(() => convSimd(x, packed, bias, true, 1, 5, { inPad: 1 })).toThrow(/border \(1\) is narrower/);
    expect(() => convSimd(x, packed3, bias, true, 1, 3, { inPad: 1, residual: res })).toThrow(
      /residual must be \[1,8,8,8\]/,
    );
    tf.dispose([x, packed, packed3, bias, res]);
  });

  it("leaks no tensors", () => {
    const x = tf.zeros([1, 4, 4, 8]) as tf.Tensor4D;
    const packed = tf.tensor1d(packConvFilter(new Float32Array(9 * 8 * 8), 3, 8, 8));
    const bias = tf.zeros([8]) as tf.Tensor1D;
    convSimd(x, packed, bias, true).dispose();
    const before = tf.memory().numTensors;
    convSimd(x, packed, bias, true).dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, packed, bias]);
  });
});

describe("Winograd F(2 x 2, 3 x 3) in the loop", () => {
  const pad = (t: tf.Tensor, p: number, value = 0) =>
    tf.pad(
      t as tf.Tensor4D,
      [
        [0, 0],
        [p, p],
        [p, p],
        [0, 0],
      ],
      value,
    ) as tf.Tensor4D;
  // [n, h, w, c, co, inPad, outPad, resPad (-1: none), relu, shortcut: [c1, s1, pad] or null]
  const cases: Array<
    [number, number, number, number, number, number, number, number, boolean, [number, number, number] | null]
  > = [
    [2, 8, 8, 16, 16, 1, 1, -1, true, null], // a block's first convolution, bordered in and out
    [2, 8, 16, 16, 16, 1, 1, 1, true, null], // its second: identity residual (bordered) + ReLU
    [1, 4, 8, 32, 32, 2, 0, 0, false, null], // wider input border, residual without one, no ReLU
    [3, 6, 24, 8, 24, 0, 2, -1, true, null], // an unbordered input (copied), three channel blocks
    [2, 4, 8, 32, 32, 1, 1, -1, true, [16, 2, 1]], // a stage's second convolution + 1 x 1 / 2 shortcut
    [1, 8, 8, 64, 64, 1, 0, -1, false, [64, 1, 0]], // stride-1 projection, 64 channels
    [2, 2, 40, 12, 8, 1, 1, 1, true, null], // C = 12 (three f32x4 groups); 20 tiles a row: passes of 12 and 8
    [1, 10, 16, 4, 16, 1, 0, -1, true, null], // C = 4
  ];
  for (const fma of [true, false]) {
    it(`matches conv2d + bias (+ residual or shortcut) (+ ReLU) ${fma ? "with relaxed-SIMD madd" : "with mul + add"}, zero borders`, async () => {
      setConvSimdFma(fma);
      try {
        for (const [n, h, w, c, co, inPad, outPad, resPad, relu, sc] of cases) {
          const label = `${n}x${h}x${w}x${c} -> ${co}, borders ${inPad}/${outPad}/${resPad}, shortcut ${sc}`;
          const x = tf.tensor4d(rand(n * h * w * c, 41 + c), [n, h, w, c]);
          const fw = rand(9 * c * co, 42 + co);
          const b2 = rand(co, 43);
          const res = resPad >= 0 ? tf.tensor4d(rand(n * h * w * co, 44), [n, h, w, co]) : undefined;
          const sx = sc
            ? tf.tensor4d(rand(n * h * sc[1] * w * sc[1] * sc[0], 45), [n, h * sc[1], w * sc[1], sc[0]])
            : undefined;
          const fs = sc ? rand(sc[0] * co, 46) : null;
          const bs = sc ? rand(co, 47) : null;
          const packed = tf.tensor1d(packConvFilter(fw, 3, c, co));
          const wino = tf.tensor1d(packWinogradFilter(fw, c, co));
          const bias = tf.tensor1d(b2.map((v, i) => v + (bs?.[i] ?? 0)));
          const xB = inPad > 0 ? pad(x, inPad) : x;
          const resB = res && resPad > 0 ? pad(res, resPad, 9) : res;
          const sxB = sx && sc ? pad(sx, sc[2]) : undefined;
          const packedS = sc && fs ? tf.tensor1d(packConvFilter(fs, 1, sc[0], co)) : undefined;
          tf.fill([n, h + 2 * outPad, w + 2 * outPad, co], 5).dispose(); // junk in freed memory
          const runs = convWinogradRuns();
          const got = convSimd(xB, packed, bias, relu, 1, 3, {
            inPad,
            outPad,
            residual: resB,
            resPad: Math.max(resPad, 0),
            winograd: wino,
            ...(sc && sxB && packedS
              ? { shortcut: { x: sxB, packed: packedS, pad: sc[2], stride: sc[1] } }
              : {}),
          });
          expect(convWinogradRuns(), label).toBe(runs + 1);
          const want = tf.tidy(() => {
            let y = tf.add(tf.conv2d(x, tf.tensor4d(fw, [3, 3, c, co]), 1, "same"), b2);
            if (res) y = tf.add(y, res);
            if (sx && sc && fs && bs)
              y = tf.add(y, tf.add(tf.conv2d(sx, tf.tensor4d(fs, [1, 1, sc[0], co]), sc[1], "same"), bs));
            return relu ? tf.relu(y) : y;
          });
          const { err, border } = await compareInner(got, want, outPad);
          // Sums of 9 C products in [-0.25, 0.25): the transforms add a little float32 rounding.
          expect(err, label).toBeLessThan(5e-5);
          expect(border, label).toBeCloseTo(0, 3);
          tf.dispose(
            [x, res, sx, packed, wino, bias, xB, resB, sxB, packedS, got, want].filter(
              (t): t is tf.Tensor => t !== undefined,
            ),
          );
        }
      } finally {
        setConvSimdFma(true);
      }
    });
  }

  it("runs the direct loop where the shape does not suit it (Wo not a multiple of 8, odd Ho, C not of 4) or when switched off", async () => {
    for (const [h, w, c, on] of [
      [8, 12, 8, true], // 12 wide: 6 tiles, not a multiple of 4
      [7, 8, 8, true], // odd height
      [8, 8, 6, true], // 6 channels
      [8, 8, 8, false],
    ] as const) {
      const x = tf.tensor4d(rand(h * w * c, 51), [1, h, w, c]);
      const fw = rand(9 * c * 8, 52);
      const packed = tf.tensor1d(packConvFilter(fw, 3, c, 8));
      const wino = tf.tensor1d(packWinogradFilter(fw, c, 8));
      const bias = tf.zeros([8]) as tf.Tensor1D;
      setConvWinograd(on);
      const runs = convWinogradRuns();
      const got = convSimd(x, packed, bias, false, 1, 3, { winograd: wino });
      setConvWinograd(true);
      expect(convWinogradRuns(), `${h}x${w}x${c}`).toBe(runs);
      const want = tf.conv2d(x, tf.tensor4d(fw, [3, 3, c, 8]), 1, "same");
      const { err } = await compareInner(got, want, 0);
      expect(err).toBeLessThan(1e-5);
      tf.dispose([x, packed, wino, bias, got, want]);
    }
    expect(() => packWinogradFilter(new Float32Array(9 * 4 * 12), 4, 12)).toThrow(/multiple of 8/);
    expect(() => packWinogradFilter(new Float32Array(25 * 4 * 8), 4, 8)).toThrow(/not \[3, 3, 4, 8\]/);
  });

  it("leaks no tensors (its scratch and the shortcut pass's zero bias are released)", () => {
    const x = tf.zeros([1, 8, 8, 8]) as tf.Tensor4D;
    const sx = tf.zeros([1, 16, 16, 8]) as tf.Tensor4D;
    const packed = tf.tensor1d(packConvFilter(new Float32Array(9 * 8 * 8), 3, 8, 8));
    const packedS = tf.tensor1d(packConvFilter(new Float32Array(8 * 8), 1, 8, 8));
    const wino = tf.tensor1d(packWinogradFilter(new Float32Array(9 * 8 * 8), 8, 8));
    const bias = tf.zeros([8]) as tf.Tensor1D;
    const run = () =>
      convSimd(x, packed, bias, true, 1, 3, {
        winograd: wino,
        shortcut: { x: sx, packed: packedS, stride: 2 },
      });
    run().dispose();
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    run().dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.memory().numBytes).toBe(bytes);
    tf.dispose([x, sx, packed, packedS, wino, bias]);
  });
});
