import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConvGeometry,
  conv2dBackpropInputRef,
  convOutput,
  relativeError,
  seededValues,
} from "./conv-reference";
import { initBackend, setConv2DBackpropInputForm } from "./index";
import { useGemmForInput } from "./wasm-kernels";

const TOL = 2e-5;

beforeAll(async () => {
  const info = await initBackend({ prefer: "wasm", log: () => {} });
  expect(info.name).toBe("wasm");
});
afterAll(() => setConv2DBackpropInputForm("auto"));

function geometries(): ConvGeometry[] {
  const out: ConvGeometry[] = [];
  for (const [h, w] of [
    [7, 5],
    [2, 2],
  ] as const)
    for (const k of [1, 3])
      for (const stride of [1, 2])
        for (const pad of ["same", "valid"] as const) {
          if (pad === "valid" && (k > h || k > w)) continue;
          out.push({ n: 3, h, w, ci: 5, co: 6, kh: k, kw: k, stride, pad });
        }
  out.push({ n: 2, h: 7, w: 8, ci: 3, co: 4, kh: 5, kw: 3, stride: 3, pad: "same" });
  out.push({ n: 2, h: 9, w: 7, ci: 4, co: 3, kh: 3, kw: 5, stride: 2, pad: "valid" });
  return out;
}

function dxOf(g: ConvGeometry, seed: number): { got: Float32Array; want: Float64Array } {
  const { ho, wo } = convOutput(g);
  const w = seededValues(g.kh * g.kw * g.ci * g.co, seed);
  const dy = seededValues(g.n * ho * wo * g.co, seed + 1);
  const wt = tf.tensor4d(Float32Array.from(w), [g.kh, g.kw, g.ci, g.co]);
  const dyt = tf.tensor4d(Float32Array.from(dy), [g.n, ho, wo, g.co]);
  const dx = tf
    .engine()
    .runKernel(
      tf.Conv2DBackpropInput,
      { dy: dyt, filter: wt },
      { strides: [g.stride, g.stride], pad: g.pad, dataFormat: "NHWC", inputShape: [g.n, g.h, g.w, g.ci] },
    );
  if (!(dx instanceof tf.Tensor)) throw new Error("one tensor expected");
  expect(dx.shape).toEqual([g.n, g.h, g.w, g.ci]);
  const got = dx.dataSync() as Float32Array;
  tf.dispose([wt, dyt, dx]);
  return { got, want: conv2dBackpropInputRef(g, dy, w) };
}

describe("Conv2DBackpropInput as GEMM + col2im", () => {
  const label = (g: ConvGeometry) => `${g.h}x${g.w}x${g.ci}->${g.co} k${g.kh}x${g.kw} s${g.stride} ${g.pad}`;
  it.each(geometries().map((g) => [label(g), g] as const))("equals the float64 reference: %s", (_n, g) => {
    setConv2DBackpropInputForm("gemm");
    const before = tf.memory().numTensors;
    const { got, want } = dxOf(g, 5);
    expect(tf.memory().numTensors).toBe(before);
    expect(relativeError(got, want)).toBeLessThan(TOL);
  });

  it("is what auto picks for a small map under a wide filter, and agrees with the conv form", () => {
    // 2x2 map, 3x3x64x64 filter, batch 2: M = 8 output pixels <= 2 * 64 channels.
    const g: ConvGeometry = { n: 2, h: 2, w: 2, ci: 64, co: 64, kh: 3, kw: 3, stride: 1, pad: "same" };
    setConv2DBackpropInputForm("auto");
    const picks = (
      dyShape: [number, number, number, number],
      filterShape: [number, number, number, number],
    ) => tf.tidy(() => useGemmForInput(tf.zeros(dyShape), tf.zeros(filterShape)));
    expect(picks([2, 2, 2, 64], [3, 3, 64, 64])).toBe(true);
    // The measured cases of docs/benchmarks.md: 2x2 and 4x4 maps at batch 16 yes, 8x8x64 no.
    expect(picks([16, 2, 2, 256], [3, 3, 256, 256])).toBe(true);
    expect(picks([16, 4, 4, 128], [3, 3, 128, 128])).toBe(true);
    expect(picks([16, 8, 8, 64], [3, 3, 64, 64])).toBe(false);
    const auto = dxOf(g, 9);
    expect(relativeError(auto.got, auto.want)).toBeLessThan(TOL);
    setConv2DBackpropInputForm("conv");
    const conv = dxOf(g, 9);
    expect(relativeError(conv.got, conv.want)).toBeLessThan(TOL);
    // Different summation orders: equal within float32 rounding, not bit for bit.
    expect(relativeError(auto.got, conv.got)).toBeLessThan(TOL);
  });
});
