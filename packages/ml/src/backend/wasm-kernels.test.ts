import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ConvGeometry,
  conv2dBackpropFilterRef,
  conv2dBackpropInputRef,
  conv2dRef,
  convOutput,
  relativeError,
  seededValues,
} from "./conv-reference";
import { batchNormTraining, initBackend } from "./index";
import { setConv2DBackpropInputVariant } from "./wasm-kernels";

const TOL = 2e-5;

beforeAll(async () => {
  const info = await initBackend({ prefer: "wasm", log: () => {} });
  expect(info.name).toBe("wasm");
  await tf.setBackend("wasm");
});

function geometries(): ConvGeometry[] {
  const out: ConvGeometry[] = [];
  for (const [h, w] of [
    [7, 5],
    [8, 6],
  ] as const)
    for (const [ci, co] of [
      [3, 5],
      [5, 3],
    ] as const)
      for (const k of [1, 3, 5])
        for (const stride of [1, 2])
          for (const pad of ["same", "valid"] as const) {
            if (pad === "valid" && (k > h || k > w)) continue;
            out.push({ n: 2, h, w, ci, co, kh: k, kw: k, stride, pad });
          }
  // Non-square kernel and a stride of 3 exercise the phase split beyond the square, stride-2 case.
  out.push({ n: 2, h: 7, w: 5, ci: 3, co: 5, kh: 3, kw: 1, stride: 2, pad: "same" });
  out.push({ n: 2, h: 7, w: 8, ci: 3, co: 4, kh: 5, kw: 3, stride: 3, pad: "same" });
  out.push({ n: 2, h: 7, w: 8, ci: 4, co: 3, kh: 3, kw: 5, stride: 3, pad: "valid" });
  return out;
}

const label = (g: ConvGeometry) => `${g.h}x${g.w}x${g.ci}->${g.co} k${g.kh}x${g.kw} s${g.stride} ${g.pad}`;

function tensors(g: ConvGeometry, seed: number) {
  const { ho, wo } = convOutput(g);
  const x = seededValues(g.n * g.h * g.w * g.ci, seed);
  const w = seededValues(g.kh * g.kw * g.ci * g.co, seed + 1);
  const dy = seededValues(g.n * ho * wo * g.co, seed + 2);
  return { x, w, dy, ho, wo };
}

describe("float64 reference convolution", () => {
  it("its gradients match central finite differences of its forward pass", () => {
    for (const g of [
      { n: 2, h: 5, w: 4, ci: 2, co: 3, kh: 3, kw: 3, stride: 2, pad: "same" },
      { n: 1, h: 6, w: 5, ci: 3, co: 2, kh: 3, kw: 1, stride: 1, pad: "valid" },
    ] satisfies ConvGeometry[]) {
      const { x, w, dy } = tensors(g, 7);
      const loss = (xv: Float64Array, wv: Float64Array) => {
        const y = conv2dRef(g, xv, wv);
        let s = 0;
        for (let i = 0; i < y.length; i++) s += (y[i] ?? 0) * (dy[i] ?? 0);
        return s;
      };
      const eps = 1e-6;
      const numeric = (v: Float64Array, f: (p: Float64Array) => number) =>
        Float64Array.from(v, (_, i) => {
          const p = Float64Array.from(v);
          p[i] = (v[i] ?? 0) + eps;
          const up = f(p);
          p[i] = (v[i] ?? 0) - eps;
          return (up - f(p)) / (2 * eps);
        });
      expect(
        relativeError(
          conv2dBackpropInputRef(g, dy, w),
          numeric(x, (p) => loss(p, w)),
        ),
      ).toBeLessThan(1e-8);
      expect(
        relativeError(
          conv2dBackpropFilterRef(g, x, dy),
          numeric(w, (p) => loss(x, p)),
        ),
      ).toBeLessThan(1e-8);
    }
  });
});

describe("wasm gradient kernels against the float64 reference", () => {
  it.each(geometries().map((g) => [label(g), g] as const))("%s", (_name, g) => {
    const { x, w, dy, ho, wo } = tensors(g, 11);
    const attrs = {
      strides: [g.stride, g.stride],
      pad: g.pad,
      dataFormat: "NHWC",
    };
    tf.tidy(() => {
      const xt = tf.tensor4d(Float32Array.from(x), [g.n, g.h, g.w, g.ci]);
      const wt = tf.tensor4d(Float32Array.from(w), [g.kh, g.kw, g.ci, g.co]);
      const dyt = tf.tensor4d(Float32Array.from(dy), [g.n, ho, wo, g.co]);
      const dw = tf
        .engine()
        .runKernel(
          tf.Conv2DBackpropFilter,
          { x: xt, dy: dyt },
          { ...attrs, filterShape: [g.kh, g.kw, g.ci, g.co] },
        );
      const dx = tf
        .engine()
        .runKernel(
          tf.Conv2DBackpropInput,
          { dy: dyt, filter: wt },
          { ...attrs, inputShape: [g.n, g.h, g.w, g.ci] },
        );
      if (!(dw instanceof tf.Tensor) || !(dx instanceof tf.Tensor))
        throw new Error("kernels must return tensors");
      expect(dw.shape).toEqual([g.kh, g.kw, g.ci, g.co]);
      expect(dx.shape).toEqual([g.n, g.h, g.w, g.ci]);
      expect(relativeError(dw.dataSync(), conv2dBackpropFilterRef(g, x, dy))).toBeLessThan(TOL);
      expect(relativeError(dx.dataSync(), conv2dBackpropInputRef(g, dy, w))).toBeLessThan(TOL);
      // And end to end through the gradient registry, as training calls them.
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.conv2d(
              tf.reshape<tf.Rank.R4>(a, xt.shape),
              tf.reshape<tf.Rank.R4>(b, wt.shape),
              g.stride,
              g.pad,
            ),
            dyt,
          ),
        ),
      );
      const [gx, gw] = grads([xt, wt]);
      expect(relativeError(gx?.dataSync() ?? [], conv2dBackpropInputRef(g, dy, w))).toBeLessThan(TOL);
      expect(relativeError(gw?.dataSync() ?? [], conv2dBackpropFilterRef(g, x, dy))).toBeLessThan(TOL);
    });
  });

  it("fused conv2d with bias and relu has the reference gradients", () => {
    const g: ConvGeometry = { n: 2, h: 7, w: 5, ci: 3, co: 8, kh: 3, kw: 3, stride: 2, pad: "same" };
    const { x, w, dy, ho, wo } = tensors(g, 23);
    const bias = seededValues(g.co, 29);
    // Reference: y = relu(conv + b); dL/dz = dy * (z > 0).
    const z = conv2dRef(g, x, w).map((v, i) => v + (bias[i % g.co] ?? 0));
    const dz = dy.map((v, i) => ((z[i] ?? 0) > 0 ? v : 0));
    const dbRef = new Float64Array(g.co);
    dz.forEach((v, i) => {
      dbRef[i % g.co] = (dbRef[i % g.co] ?? 0) + v;
    });
    tf.tidy(() => {
      const xt = tf.tensor4d(Float32Array.from(x), [g.n, g.h, g.w, g.ci]);
      const wt = tf.tensor4d(Float32Array.from(w), [g.kh, g.kw, g.ci, g.co]);
      const bt = tf.tensor1d(Float32Array.from(bias));
      const dyt = tf.tensor4d(Float32Array.from(dy), [g.n, ho, wo, g.co]);
      const [gx, gw, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.fused.conv2d({
              x: tf.reshape<tf.Rank.R4>(a, xt.shape),
              filter: tf.reshape<tf.Rank.R4>(b, wt.shape),
              strides: g.stride,
              pad: g.pad,
              bias: c,
              activation: "relu",
            }),
            dyt,
          ),
        ),
      )([xt, wt, bt]);
      expect(relativeError(gx?.dataSync() ?? [], conv2dBackpropInputRef(g, dz, w))).toBeLessThan(TOL);
      expect(relativeError(gw?.dataSync() ?? [], conv2dBackpropFilterRef(g, x, dz))).toBeLessThan(TOL);
      expect(relativeError(gb?.dataSync() ?? [], dbRef)).toBeLessThan(TOL);
    });
  });

  it("our Conv2DBackpropInput equals the backend's own scalar kernel", () => {
    const g: ConvGeometry = { n: 2, h: 8, w: 6, ci: 4, co: 8, kh: 3, kw: 3, stride: 2, pad: "same" };
    const { w, dy, ho, wo } = tensors(g, 31);
    const run = () =>
      tf.tidy(() => {
        const out = tf.engine().runKernel(
          tf.Conv2DBackpropInput,
          {
            dy: tf.tensor4d(Float32Array.from(dy), [g.n, ho, wo, g.co]),
            filter: tf.tensor4d(Float32Array.from(w), [g.kh, g.kw, g.ci, g.co]),
          },
          { strides: [2, 2], pad: "same", dataFormat: "NHWC", inputShape: [g.n, g.h, g.w, g.ci] },
        );
        if (!(out instanceof tf.Tensor)) throw new Error("kernel must return a tensor");
        return out.dataSync();
      });
    const ours = run();
    setConv2DBackpropInputVariant("builtin");
    try {
      expect(relativeError(run(), ours)).toBeLessThan(TOL);
    } finally {
      setConv2DBackpropInputVariant("fast");
    }
  });

  it("the batch-norm gradient (tile-free) matches float64 finite differences", () => {
    // Training-mode batch norm exactly as tfjs-layers builds it: moments, then tf.batchNorm.
    const [n, h, w, c] = [2, 3, 4, 5];
    const eps = 1e-3;
    const x = seededValues(n * h * w * c, 41);
    const gamma = seededValues(c, 43).map((v) => 1 + 0.5 * v);
    const beta = seededValues(c, 47);
    const r = seededValues(n * h * w * c, 53);
    const loss = (xv: Float64Array, gv: Float64Array, bv: Float64Array) => {
      const m = n * h * w;
      let s = 0;
      for (let ch = 0; ch < c; ch++) {
        let mean = 0;
        for (let i = ch; i < xv.length; i += c) mean += xv[i] ?? 0;
        mean /= m;
        let v = 0;
        for (let i = ch; i < xv.length; i += c) v += ((xv[i] ?? 0) - mean) ** 2;
        v /= m;
        for (let i = ch; i < xv.length; i += c) {
          const y = ((gv[ch] ?? 0) * ((xv[i] ?? 0) - mean)) / Math.sqrt(v + eps) + (bv[ch] ?? 0);
          s += y * (r[i] ?? 0);
        }
      }
      return s;
    };
    const d = 1e-6;
    const numeric = (v: Float64Array, f: (p: Float64Array) => number) =>
      Float64Array.from(v, (_, i) => {
        const p = Float64Array.from(v);
        p[i] = (v[i] ?? 0) + d;
        const up = f(p);
        p[i] = (v[i] ?? 0) - d;
        return (up - f(p)) / (2 * d);
      });
    const nx = numeric(x, (p) => loss(p, gamma, beta));
    const ng = numeric(gamma, (p) => loss(x, p, beta));
    const nb = numeric(beta, (p) => loss(x, gamma, p));
    tf.tidy(() => {
      const rt = tf.tensor4d(Float32Array.from(r), [n, h, w, c]);
      const [gx, gg, gb] = tf.grads((a: tf.Tensor, g1: tf.Tensor, b1: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2]);
        const y = tf.batchNorm(tf.reshape(a, [n, h, w, c]), mean, variance, b1, g1, eps);
        return tf.sum(tf.mul(y, rt));
      })([
        tf.tensor4d(Float32Array.from(x), [n, h, w, c]),
        tf.tensor1d(Float32Array.from(gamma)),
        tf.tensor1d(Float32Array.from(beta)),
      ]);
      expect(relativeError(gx?.dataSync() ?? [], nx)).toBeLessThan(1e-4);
      expect(relativeError(gg?.dataSync() ?? [], ng)).toBeLessThan(1e-4);
      expect(relativeError(gb?.dataSync() ?? [], nb)).toBeLessThan(1e-4);
      // batchNormTraining (closed-form gradient) gives the same values and gradients.
      const [fx, fg, fb] = tf.grads((a: tf.Tensor, g1: tf.Tensor, b1: tf.Tensor) => {
        const { y } = batchNormTraining(
          tf.reshape<tf.Rank.R4>(a, [n, h, w, c]),
          tf.reshape<tf.Rank.R1>(g1, [c]),
          tf.reshape<tf.Rank.R1>(b1, [c]),
          eps,
        );
        return tf.sum(tf.mul(y, rt));
      })([
        tf.tensor4d(Float32Array.from(x), [n, h, w, c]),
        tf.tensor1d(Float32Array.from(gamma)),
        tf.tensor1d(Float32Array.from(beta)),
      ]);
      expect(relativeError(fx?.dataSync() ?? [], nx)).toBeLessThan(1e-4);
      expect(relativeError(fg?.dataSync() ?? [], ng)).toBeLessThan(1e-4);
      expect(relativeError(fb?.dataSync() ?? [], nb)).toBeLessThan(1e-4);
      const { mean, variance } = batchNormTraining(
        tf.tensor4d(Float32Array.from(x), [n, h, w, c]),
        tf.ones([c]),
        tf.zeros([c]),
        eps,
      );
      const ref = tf.moments(tf.tensor4d(Float32Array.from(x), [n, h, w, c]), [0, 1, 2]);
      expect(relativeError(mean.dataSync(), ref.mean.dataSync())).toBeLessThan(1e-6);
      expect(relativeError(variance.dataSync(), ref.variance.dataSync())).toBeLessThan(1e-6);
    });
  });
});
