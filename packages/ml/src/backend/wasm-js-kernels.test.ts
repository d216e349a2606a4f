import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ConvGeometry,
  conv2dBackpropFilterRef,
  convOutput,
  relativeError,
  seededValues,
} from "./conv-reference";
import { initBackend } from "./index";
import { setWasmJsKernels } from "./wasm-js-kernels";
import {
  conv2dBackpropFilterViaConv,
  conv2dBackpropFilterViaGemm,
  setConv2DBackpropFilterVariant,
} from "./wasm-kernels";

beforeAll(async () => {
  const info = await initBackend({ prefer: "wasm", log: () => {} });
  expect(info.name).toBe("wasm");
  await tf.setBackend("wasm");
});

/** Runs f with the backend's own Slice/Identity/Sum/Mean/MaxPoolGrad, then with ours. */
function bothKernels<T>(f: () => T): { builtin: T; ours: T } {
  setWasmJsKernels(false);
  try {
    const builtin = f();
    setWasmJsKernels(true);
    return { builtin, ours: f() };
  } finally {
    setWasmJsKernels(true);
  }
}

describe("wasm Slice (heap view)", () => {
  const cases: Array<[number[], number[], number[]]> = [
    [[7], [2], [4]],
    [
      [5, 6],
      [1, 0],
      [3, 6],
    ],
    [
      [5, 6],
      [1, 2],
      [3, 3],
    ],
    [
      [3, 3, 5, 4],
      [1, 2, 0, 0],
      [1, 1, 5, 4],
    ],
    [
      [2, 7, 5, 3],
      [0, 1, 2, 0],
      [2, 5, 2, 3],
    ],
    [
      [2, 7, 5, 3],
      [1, 0, 0, 1],
      [1, 7, 5, 2],
    ],
    [
      [2, 3, 4, 5, 3],
      [1, 1, 0, 2, 1],
      [1, 2, 4, 2, 1],
    ],
    [
      [4, 4],
      [0, 0],
      [4, 4],
    ],
    [
      [3, 0, 2],
      [0, 0, 0],
      [2, 0, 2],
    ],
  ];
  it.each(cases)(
    "shape %j begin %j size %j equals the backend's own, element for element",
    (shape, begin, size) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const values = Float32Array.from(seededValues(n, 3));
      const { builtin, ours } = bothKernels(() =>
        tf.tidy(() => Array.from(tf.slice(tf.tensor(values, shape), begin, size).dataSync())),
      );
      expect(ours).toEqual(builtin);
      // And against a direct index computation.
      const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
      const expected: number[] = [];
      const walk = (d: number, off: number) => {
        if (d === shape.length) {
          expected.push(values[off] ?? Number.NaN);
          return;
        }
        for (let i = 0; i < (size[d] ?? 0); i++) walk(d + 1, off + ((begin[d] ?? 0) + i) * (strides[d] ?? 0));
      };
      walk(0, 0);
      expect(ours).toEqual(expected);
    },
  );

  it("int32 and bool slices are exact", () => {
    const { builtin, ours } = bothKernels(() =>
      tf.tidy(() => {
        const i = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], "int32");
        const b = tf.tensor2d([1, 0, 1, 1, 0, 0], [2, 3], "bool");
        return [
          Array.from(tf.slice(i, [0, 1], [2, 2]).dataSync()),
          Array.from(tf.slice(b, [1, 0], [1, 3]).dataSync()),
        ];
      }),
    );
    expect(ours).toEqual(builtin);
    expect(ours).toEqual([
      [2, 3, 5, 6],
      [1, 0, 0],
    ]);
  });
});

describe("wasm Sum / Mean over non-innermost axes (blocked JS)", () => {
  const shape = [3, 5, 4, 6];
  const values = seededValues(3 * 5 * 4 * 6, 9);
  /** float64 reduction of `values` (shape above) over axes. */
  function ref(axes: number[], mean: boolean): number[] {
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = new Float64Array(outShape.reduce((a, b) => a * b, 1));
    const count = axes.reduce((a, ax) => a * (shape[ax] ?? 1), 1);
    const idx = [0, 0, 0, 0];
    for (let f = 0; f < values.length; f++) {
      let r = f;
      for (let d = 3; d >= 0; d--) {
        idx[d] = r % (shape[d] ?? 1);
        r = Math.floor(r / (shape[d] ?? 1));
      }
      let o = 0;
      for (let d = 0; d < 4; d++) o = o * (outShape[d] ?? 1) + (axes.includes(d) ? 0 : (idx[d] ?? 0));
      out[o] = (out[o] ?? 0) + (values[f] ?? 0);
    }
    return Array.from(out, (v) => (mean ? v / count : v));
  }
  const axesCases: number[][] = [[0, 1, 2], [1, 2], [0], [1], [0, 1], [2], [3], [2, 3], [0, 1, 2, 3], [0, 2]];
  it.each(axesCases.map((a) => [JSON.stringify(a), a] as const))(
    "axes %s match a float64 reference and the backend's own",
    (_name, axes) => {
      for (const mean of [false, true]) {
        for (const keepDims of [false, true]) {
          const { builtin, ours } = bothKernels(() =>
            tf.tidy(() => {
              const x = tf.tensor4d(Float32Array.from(values), [3, 5, 4, 6]);
              const y = mean ? tf.mean(x, axes, keepDims) : tf.sum(x, axes, keepDims);
              return { shape: y.shape, data: Array.from(y.dataSync()) };
            }),
          );
          expect(ours.shape).toEqual(builtin.shape);
          expect(relativeError(ours.data, ref(axes, mean))).toBeLessThan(1e-6);
          expect(relativeError(ours.data, builtin.data)).toBeLessThan(1e-6);
        }
      }
    },
  );

  it("int32 sums keep their dtype and exact values", () => {
    const y = tf.tidy(() => {
      const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], "int32");
      const s = tf.sum(x, [0, 1]);
      return { dtype: s.dtype, data: Array.from(s.dataSync()) };
    });
    expect(y).toEqual({ dtype: "int32", data: [16, 20] });
  });

  it("the batch-norm gradients (sums over N, H, W) are unchanged through tf.grads", () => {
    const x = Float32Array.from(seededValues(2 * 3 * 5 * 4, 13));
    const r = Float32Array.from(seededValues(2 * 3 * 5 * 4, 17));
    const { builtin, ours } = bothKernels(() =>
      tf.tidy(() => {
        const rt = tf.tensor4d(r, [2, 3, 5, 4]);
        const [gx, gg, gb] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const { mean, variance } = tf.moments(a, [0, 1, 2]);
          return tf.sum(tf.mul(tf.batchNorm(tf.reshape(a, [2, 3, 5, 4]), mean, variance, b, g), rt));
        })([tf.tensor4d(x, [2, 3, 5, 4]), tf.tensor1d([1, 0.5, 2, -1]), tf.tensor1d([0, 1, -1, 2])]);
        return [gx, gg, gb].flatMap((t) => Array.from(t?.dataSync() ?? []));
      }),
    );
    expect(relativeError(ours, builtin)).toBeLessThan(1e-5);
  });
});

describe("Conv2DBackpropFilter as im2col + GEMM against the float64 reference", () => {
  const geometries: ConvGeometry[] = [];
  for (const [h, w] of [
    [7, 5],
    [8, 6],
  ] as const)
    for (const k of [1, 3, 5])
      for (const stride of [1, 2, 3])
        for (const pad of ["same", "valid"] as const) {
          if (pad === "valid" && (k > h || k > w)) continue;
          geometries.push({ n: 2, h, w, ci: 3, co: 4, kh: k, kw: k, stride, pad });
        }
  geometries.push({ n: 3, h: 9, w: 7, ci: 2, co: 5, kh: 7, kw: 7, stride: 2, pad: "same" });
  geometries.push({ n: 2, h: 7, w: 8, ci: 3, co: 4, kh: 5, kw: 3, stride: 3, pad: "same" });
  geometries.push({ n: 1, h: 6, w: 9, ci: 4, co: 3, kh: 3, kw: 5, stride: 2, pad: "valid" });
  it.each(
    geometries.map((g) => [`${g.h}x${g.w}x${g.ci}->${g.co} k${g.kh}x${g.kw} s${g.stride} ${g.pad}`, g]),
  )("%s", (_name, g) => {
    const { ho, wo } = convOutput(g);
    const x = seededValues(g.n * g.h * g.w * g.ci, 5);
    const dy = seededValues(g.n * ho * wo * g.co, 6);
    const ref = conv2dBackpropFilterRef(g, x, dy);
    tf.tidy(() => {
      const xt = tf.tensor4d(Float32Array.from(x), [g.n, g.h, g.w, g.ci]);
      const dyt = tf.tensor4d(Float32Array.from(dy), [g.n, ho, wo, g.co]);
      const shape: [number, number, number, number] = [g.kh, g.kw, g.ci, g.co];
      const s: [number, number] = [g.stride, g.stride];
      const gemm = conv2dBackpropFilterViaGemm(xt, dyt, shape, s, g.pad);
      expect(gemm.shape).toEqual(shape);
      expect(relativeError(gemm.dataSync(), ref)).toBeLessThan(2e-5);
      expect(
        relativeError(conv2dBackpropFilterViaConv(xt, dyt, shape, s, g.pad).dataSync(), ref),
      ).toBeLessThan(2e-5);
      // Both variants through the registered kernel, as training calls it.
      for (const variant of ["gemm", "conv"] as const) {
        setConv2DBackpropFilterVariant(variant);
        try {
          const [gw] = tf.grads((b: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(xt, tf.reshape<tf.Rank.R4>(b, shape), g.stride, g.pad), dyt)),
          )([tf.tensor4d(Float32Array.from(seededValues(g.kh * g.kw * g.ci * g.co, 8)), shape)]);
          expect(relativeError(gw?.dataSync() ?? [], ref)).toBeLessThan(2e-5);
        } finally {
          setConv2DBackpropFilterVariant("auto");
        }
      }
    });
  });
});

describe("wasm Identity (shared data)", () => {
  it("a clone outlives its source, and assigning a variable leaves earlier clones alone", () => {
    const before = tf.memory().numTensors;
    const a = tf.tensor1d([1, 2, 3]);
    const c = tf.clone(a);
    a.dispose();
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3]);
    const v = tf.tidy(() => tf.variable(tf.tensor1d([4, 5])));
    const snap = tf.clone(v);
    tf.tidy(() => v.assign(tf.tensor1d([6, 7])));
    expect(Array.from(snap.dataSync())).toEqual([4, 5]);
    expect(Array.from(v.dataSync())).toEqual([6, 7]);
    tf.dispose([c, v, snap]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("wasm MaxPoolGrad (one scan per window)", () => {
  type Shape4 = [number, number, number, number];
  const cases: Array<[string, Shape4, number, number, "same" | "valid"]> = [
    ["3x3/2 same", [2, 9, 7, 3], 3, 2, "same"],
    ["3x3/2 same even", [2, 8, 8, 4], 3, 2, "same"],
    ["2x2/2 valid", [1, 7, 6, 2], 2, 2, "valid"],
    ["3x3/1 same", [2, 5, 6, 3], 3, 1, "same"],
    ["3x3/2 valid", [1, 9, 8, 2], 3, 2, "valid"],
  ];
  function grad(
    shape: Shape4,
    x: Float32Array,
    r: Float32Array,
    k: number,
    s: number,
    pad: "same" | "valid",
  ) {
    return tf.tidy(() => {
      const rt = tf.tensor(r, tf.maxPool(tf.zeros(shape) as tf.Tensor4D, k, s, pad).shape);
      const [g] = tf.grads((a: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.maxPool(tf.reshape<tf.Rank.R4>(a, shape as [number, number, number, number]), k, s, pad),
            rt,
          ),
        ),
      )([tf.tensor(x, shape)]);
      return Array.from(g?.dataSync() ?? []);
    });
  }
  // The reference is tfjs-core's cpu kernel (first maximum, windows padded with -inf), as in
  // TensorFlow and PyTorch. The wasm backend's own kernel differs on ties (it takes the last
  // maximum) and on windows whose values are all <= 0 (its running maximum starts at the
  // smallest positive float), which a ReLU makes common.
  it.each(cases)(
    "%s equals tfjs-core's cpu kernel, also with ties (ReLU zeros, repeated values)",
    async (_n, shape, k, s, pad) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const outSize = tf.tidy(() => tf.maxPool(tf.zeros(shape) as tf.Tensor4D, k, s, pad).size);
      const r = Float32Array.from(seededValues(outSize, 71));
      const smooth = Float32Array.from(seededValues(size, 73));
      // Ties everywhere: ReLU of values rounded to a coarse grid.
      const ties = Float32Array.from(smooth, (v) => Math.max(0, Math.round(v * 2) / 2));
      for (const x of [smooth, ties]) {
        const ours = grad(shape, x, r, k, s, pad);
        await tf.setBackend("cpu");
        try {
          const reference = grad(shape, x, r, k, s, pad);
          expect(relativeError(ours, reference)).toBeLessThan(1e-6);
        } finally {
          await tf.setBackend("wasm");
        }
      }
    },
  );
  it("matches float64 central differences of the pooled loss (no ties)", () => {
    const shape: Shape4 = [2, 7, 6, 2];
    const size = shape.reduce((a, b) => a * b, 1);
    const x = seededValues(size, 79);
    const outShape = tf.tidy(() => tf.maxPool(tf.zeros(shape) as tf.Tensor4D, 3, 2, "same").shape);
    const r = seededValues(
      outShape.reduce((a, b) => a * b, 1),
      83,
    );
    const [n, h, w, c] = shape as [number, number, number, number];
    const [, oh, ow] = outShape;
    // "same" 3x3/2 on 7x6: pad top/left = floor(total/2).
    const padTop = Math.floor(Math.max(0, ((oh ?? 0) - 1) * 2 + 3 - h) / 2);
    const padLeft = Math.floor(Math.max(0, ((ow ?? 0) - 1) * 2 + 3 - w) / 2);
    const loss = (v: Float64Array) => {
      let s = 0;
      let o = 0;
      for (let b = 0; b < n; b++)
        for (let i = 0; i < (oh ?? 0); i++)
          for (let j = 0; j < (ow ?? 0); j++)
            for (let ch = 0; ch < c; ch++) {
              let m = Number.NEGATIVE_INFINITY;
              for (let a = 0; a < 3; a++)
                for (let bb = 0; bb < 3; bb++) {
                  const y = i * 2 + a - padTop;
                  const xx = j * 2 + bb - padLeft;
                  if (y >= 0 && y < h && xx >= 0 && xx < w)
                    m = Math.max(m, v[((b * h + y) * w + xx) * c + ch] ?? 0);
                }
              s += m * (r[o++] ?? 0);
            }
      return s;
    };
    const eps = 1e-6;
    const numeric = Float64Array.from(x, (_, i) => {
      const p = Float64Array.from(x);
      p[i] = (x[i] ?? 0) + eps;
      const up = loss(p);
      p[i] = (x[i] ?? 0) - eps;
      return (up - loss(p)) / (2 * eps);
    });
    const ours = grad(shape, Float32Array.from(x), Float32Array.from(r), 3, 2, "same");
    expect(relativeError(ours, numeric)).toBeLessThan(1e-5);
  });
});

describe("Mean gradient (dy / size, broadcast)", () => {
  const cases: Array<[string, number[] | number | undefined, boolean]> = [
    ["axes 0,1,2", [0, 1, 2], false],
    ["axes 1,2 keepDims", [1, 2], true],
    ["axis -1", -1, false],
    ["all axes", undefined, false],
  ];
  it.each(cases)("%s: every element gets its output's dy / count", (_n, axis, keepDims) => {
    const shape: [number, number, number, number] = [2, 3, 4, 5];
    const x = tf.tensor4d(Float32Array.from(seededValues(120, 91)), shape);
    const y = tf.mean(x, axis, keepDims);
    const r = tf.tensor(Float32Array.from(seededValues(y.size, 93)), y.shape);
    const [g] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.mean(a, axis, keepDims), r)))([x]);
    const axes =
      axis === undefined ? [0, 1, 2, 3] : (Array.isArray(axis) ? axis : [axis]).map((a) => (a + 4) % 4);
    const count = axes.reduce((n, a) => n * (shape[a] ?? 1), 1);
    const rv = r.dataSync();
    const expected = Array.from({ length: 120 }, (_, f) => {
      const idx = [Math.floor(f / 60), Math.floor(f / 20) % 3, Math.floor(f / 5) % 4, f % 5];
      let o = 0;
      for (let d = 0; d < 4; d++) if (!axes.includes(d)) o = o * (shape[d] ?? 1) + (idx[d] ?? 0);
      return (rv[o] ?? Number.NaN) / count;
    });
    expect(relativeError(g?.dataSync() ?? [], expected)).toBeLessThan(1e-6);
    tf.dispose([x, y, r, g]);
  });
});
