import { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import { makeSimdAdamW } from "./adamw-simd";
import { fusedBatchNormKernel } from "./batch-norm-simd";
import { maxPoolGradSimdKernel } from "./max-pool-grad-simd";
import { reduceMiddleSimd } from "./reduce-simd";
import { simdLoopPerBackend, simdSwitch } from "./wasm-asm";

/**
 * Replacements for three tfjs-backend-wasm 4.22 kernels whose JS side does needless full-tensor
 * work, and two gathers used by our gradient kernels; all read and write the wasm heap directly.
 *
 * - Slice: the backend copies the WHOLE input out of the heap (readSync) before copying the slice;
 *   here the slice is copied straight from a heap view (same bytes out, no extra pass).
 * - Identity: see identityKernel.
 * - MaxPoolGrad: see maxPoolGradKernel.
 *
 * - Sum / Mean over axes that are not the innermost ones (batch-norm statistics and gradients
 *   reduce [N, H, W, C] over N, H, W; global average pooling over H, W): the backend transposes
 *   the tensor so the axes come last, then reduces (single-threaded); see reduceMiddle.
 */

export function asWasm(backend: unknown, kernel: string): BackendWasm {
  if (!(backend instanceof BackendWasm)) throw new Error(`${kernel}: not the wasm backend`);
  return backend;
}

/** Registers a project kernel for the wasm backend unless one of that name is registered already. */
export function registerWasmKernel(kernelName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, "wasm") === undefined) {
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc });
  }
}

export function f32View(backend: BackendWasm, t: tf.TensorInfo): Float32Array {
  const v = backend.typedArrayFromHeap(t);
  if (!(v instanceof Float32Array)) throw new Error("expected a float32 tensor");
  return v;
}

function numberList(v: unknown, rank: number, what: string): number[] {
  if (typeof v === "number") return Array.from({ length: rank }, () => v);
  if (Array.isArray(v) && v.every((e) => typeof e === "number")) return v;
  throw new Error(`${what}: expected numbers, got ${JSON.stringify(v)}`);
}

const sliceKernel =
  (fallback: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const x = args.inputs.x;
    if (x === undefined) throw new Error("Slice: missing input");
    if (x.dtype === "string" || x.shape.length === 0) return fallback(args);
    const backend = asWasm(args.backend, "Slice");
    const rank = x.shape.length;
    const [begin, size] = tf.slice_util.parseSliceParams(
      x,
      numberList(args.attrs?.begin, rank, "Slice begin"),
      args.attrs?.size === undefined ? undefined : numberList(args.attrs.size, rank, "Slice size"),
    );
    if (begin === undefined || size === undefined) throw new Error("Slice: bad begin/size");
    const out = backend.makeOutput(size, x.dtype);
    const total = tf.util.sizeFromShape(size);
    if (total === 0) return out;
    // Views are taken after makeOutput: an allocation can grow (and replace) the heap buffer.
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    copySlice(src, dst, x.shape, begin, size);
    return out;
  };

/** Copies x[begin : begin + size] (row-major) into dst, one contiguous run of trailing dims at a time. */
export function copySlice(
  src: tf.backend_util.TypedArray,
  dst: tf.backend_util.TypedArray,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): void {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d] ?? 1;
  }
  // Trailing dims taken whole merge into the innermost run.
  let inner = rank - 1;
  let run = size[rank - 1] ?? 1;
  while (inner > 0 && size[inner] === shape[inner]) {
    inner--;
    run *= size[inner] ?? 1;
  }
  // Dims [0, inner) are iterated; dim `inner` and beyond form one run of `run` elements.
  let srcBase = 0;
  for (let d = 0; d < rank; d++) srcBase += (begin[d] ?? 0) * (strides[d] ?? 0);
  if (inner === 0) {
    dst.set(src.subarray(srcBase, srcBase + run), 0);
    return;
  }
  const idx = new Array<number>(inner).fill(0);
  const runs = tf.util.sizeFromShape(size.slice(0, inner));
  let off = srcBase;
  for (let r = 0; r < runs; r++) {
    dst.set(src.subarray(off, off + run), r * run);
    // Odometer over dims [0, inner).
    for (let d = inner - 1; d >= 0; d--) {
      const i = (idx[d] ?? 0) + 1;
      const stride = strides[d] ?? 0;
      if (i < (size[d] ?? 1)) {
        idx[d] = i;
        off += stride;
        break;
      }
      idx[d] = 0;
      off -= (i - 1) * stride;
    }
  }
}

/**
 * Identity (tf.clone; the engine clones every tensor it saves for the backward pass, ~600 per
 * training step of a ResNet-18): the backend copies the data; tensors are immutable, so here the
 * clone shares it with one more reference, as the cpu backend and the wasm Reshape already do.
 */
const identityKernel =
  (fallback: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const x = args.inputs.x;
    if (x === undefined) throw new Error("Identity: missing input");
    if (x.dtype === "string") return fallback(args);
    asWasm(args.backend, "Identity").incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };

/**
 * MaxPoolGrad: the backend's kernel revisits, for every input pixel, every window that covers it
 * and recomputes that window's maximum (9 windows x 9 taps for a 3x3/2 pool). Here each window is
 * scanned once and its gradient goes to its first maximum in row-major order (the same tie rule as
 * the backend's and tfjs-core's reference kernels; ties are common after a ReLU).
 */
const maxPoolGradKernel =
  (fallback: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const { dy, input } = args.inputs;
    if (dy === undefined || input === undefined) throw new Error("MaxPoolGrad: missing input");
    if (input.dtype !== "float32" || dy.dtype !== "float32" || input.shape.length !== 4)
      return fallback(args);
    const attrs = args.attrs ?? {};
    const { filterSize, strides, pad, dimRoundingMode } = attrs;
    const rounding = roundingOf(dimRoundingMode);
    const padding =
      typeof pad === "number" ? pad : pad === "same" ? "same" : pad === "valid" ? "valid" : null;
    if (padding === null) return fallback(args);
    const info = tf.backend_util.computePool2DInfo(
      readShape4Js(input.shape),
      pairOf(filterSize, "filterSize"),
      pairOf(strides, "strides"),
      1,
      padding,
      rounding,
    );
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return fallback(args);
    const backend = asWasm(args.backend, "MaxPoolGrad");
    const dx = backend.makeOutput([...input.shape], "float32");
    maxPoolBackprop(f32View(backend, input), f32View(backend, dy), f32View(backend, dx), info);
    return dx;
  };

function roundingOf(v: unknown): "floor" | "round" | "ceil" | undefined {
  return v === "floor" ? "floor" : v === "round" ? "round" : v === "ceil" ? "ceil" : undefined;
}

function pairOf(v: unknown, what: string): [number, number] {
  if (typeof v === "number") return [v, v];
  if (Array.isArray(v) && typeof v[0] === "number" && typeof v[1] === "number") return [v[0], v[1]];
  throw new Error(`MaxPoolGrad: bad ${what}`);
}

function readShape4Js(s: readonly number[]): [number, number, number, number] {
  const [a, b, c, d] = s;
  if (a === undefined || b === undefined || c === undefined || d === undefined)
    throw new Error("rank 4 expected");
  return [a, b, c, d];
}

/** dx for a max pool (NHWC): each dy goes to its window's first maximum. */
export function maxPoolBackprop(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): void {
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  dx.fill(0);
  const best = new Int32Array(c);
  const bestVal = new Float32Array(c);
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    const img = b * inHeight * inWidth * c;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * sh - top;
      const yLo = Math.max(0, y0);
      const yHi = Math.min(inHeight, y0 + fh);
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * sw - left;
        const xLo = Math.max(0, x0);
        const xHi = Math.min(inWidth, x0 + fw);
        best.fill(-1);
        bestVal.fill(Number.NEGATIVE_INFINITY);
        for (let y = yLo; y < yHi; y++) {
          for (let xx = xLo; xx < xHi; xx++) {
            const p = img + (y * inWidth + xx) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = x[p + ch] ?? Number.NaN;
              // Strictly greater: the first maximum in row-major window order wins.
              if (v > (bestVal[ch] ?? 0) || (best[ch] ?? 0) < 0) {
                bestVal[ch] = v;
                best[ch] = p + ch;
              }
            }
          }
        }
        for (let ch = 0; ch < c; ch++) {
          const at = best[ch] ?? -1;
          if (at >= 0) dx[at] = (dx[at] ?? 0) + (dy[o + ch] ?? 0);
        }
        o += c;
      }
    }
  }
}

interface ReduceView {
  outer: number;
  reduce: number;
  inner: number;
  outShape: number[];
}

/** [outer, reduce, inner] when the axes are one contiguous run that does not include the last axis. */
export function reduceView(
  shape: readonly number[],
  axisAttr: unknown,
  keepDims: boolean,
): ReduceView | null {
  const rank = shape.length;
  // No axis: every axis, the last included (the backend's own kernel needs no transpose then).
  if (rank < 2 || axisAttr === null || axisAttr === undefined) return null;
  const axes = [...new Set(tf.util.parseAxisParam(numberList(axisAttr, 1, "axis"), [...shape]))].sort(
    (a, b) => a - b,
  );
  const first = axes[0];
  const last = axes[axes.length - 1];
  if (first === undefined || last === undefined) return null;
  if (last - first + 1 !== axes.length || last === rank - 1) return null;
  const outer = tf.util.sizeFromShape(shape.slice(0, first));
  const reduce = tf.util.sizeFromShape(shape.slice(first, last + 1));
  const inner = tf.util.sizeFromShape(shape.slice(last + 1));
  const outShape = keepDims
    ? shape.map((d, i) => (i >= first && i <= last ? 1 : d))
    : shape.filter((_, i) => i < first || i > last);
  return { outer, reduce, inner, outShape };
}

/**
 * out[o, c] = scale * sum_r x[o, r, c]. Rows are taken in blocks that fit the L1 cache and each
 * channel is summed down a block in two float64 registers, so the loop never writes memory per
 * element (a first, row-by-row JS version was no faster than the backend's transpose + reduce;
 * this one is ~1.9x faster on 16x64x64x32, process CPU time).
 */
export function reduceMiddle(x: Float32Array, out: Float32Array, v: ReduceView, scale: number): void {
  const { outer, reduce, inner } = v;
  const acc = new Float64Array(inner);
  const block = Math.max(1, Math.floor(4096 / inner));
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    const base = o * reduce * inner;
    for (let r0 = 0; r0 < reduce; r0 += block) {
      const r1 = Math.min(reduce, r0 + block);
      for (let c = 0; c < inner; c++) {
        let s0 = 0;
        let s1 = 0;
        let i = base + r0 * inner + c;
        const end = base + r1 * inner + c;
        for (; i + inner < end; i += 2 * inner) {
          s0 += x[i] ?? 0;
          s1 += x[i + inner] ?? 0;
        }
        if (i < end) s0 += x[i] ?? 0;
        acc[c] = (acc[c] ?? 0) + s0 + s1;
      }
    }
    const o0 = o * inner;
    for (let c = 0; c < inner; c++) out[o0 + c] = (acc[c] ?? 0) * scale;
  }
}

const reduceKernel =
  (kind: "Sum" | "Mean", fallback: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const x = args.inputs.x;
    if (x === undefined) throw new Error(`${kind}: missing input`);
    if (x.dtype !== "float32") return fallback(args);
    const view = reduceView(x.shape, args.attrs?.axis, args.attrs?.keepDims === true);
    if (view === null || view.reduce === 0) return fallback(args);
    const backend = asWasm(args.backend, kind);
    const out = backend.makeOutput(view.outShape, "float32");
    const scale = kind === "Mean" ? 1 / view.reduce : 1;
    // The SIMD loop where inner % 4 == 0 (reduce-simd.ts; the same bits), else the JS one.
    if (!reduceMiddleSimd(backend, x, out, view, scale))
      reduceMiddle(f32View(backend, x), f32View(backend, out), view, scale);
    return out;
  };

const originals = new Map<string, tf.KernelConfig>();
const replacements: Array<[string, (fallback: tf.KernelFunc) => tf.KernelFunc]> = [
  [tf.Slice, sliceKernel],
  [tf.Identity, identityKernel],
  // The SIMD loop (C % 4 == 0), falling back to the JS loop, then to the backend's kernel.
  [tf.MaxPoolGrad, (f) => maxPoolGradSimdKernel(maxPoolGradKernel(f))],
  [tf.Sum, (f) => reduceKernel("Sum", f)],
  [tf.Mean, (f) => reduceKernel("Mean", f)],
  [tf.FusedBatchNorm, fusedBatchNormKernel],
];

/**
 * Registers the replacements (on, the default from registerWasmTrainingKernels) or restores the
 * backend's own kernels (off, for A/B benchmarks). Each replacement keeps the original's setup, so
 * its fallback works whether the backend started before or after.
 */
export function setWasmJsKernels(on: boolean): void {
  for (const [name, make] of replacements) {
    const current = tf.getKernel(name, "wasm");
    if (current === undefined) continue;
    if (!originals.has(name)) originals.set(name, current);
    const original = originals.get(name);
    if (original === undefined) continue;
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel(on ? { ...original, kernelFunc: make(original.kernelFunc) } : original);
  }
}

/** Name of the im2col kernel below (wasm only; used inside Conv2DBackpropFilter, no gradient). */
export const IM2COL_T = "XrayIm2ColT";

export interface Im2ColGeometry {
  /** Rows of the source: Ci * N planes of h x w (x transposed to [Ci, N, H, W]). */
  planes: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
  ho: number;
  wo: number;
}

/**
 * Transposed im2col: dst[(a*kw + b)*planes + q][i*wo + j] = src[q][i*sh + a - top][j*sw + b - left]
 * (0 outside the image). With src = x as [Ci, N, H, W], row (a, b, ci) of dst holds tap (a, b) of
 * channel ci for every output pixel (n, i, j) in order, so dW = dst @ dy[N*Ho*Wo, Co].
 */
export function im2colT(src: Float32Array, dst: Float32Array, g: Im2ColGeometry): void {
  const { planes, h, w, kh, kw, sh, sw, top, left, ho, wo } = g;
  let o = 0;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const dx = b - left;
      // Output columns j whose source column j*sw + dx lies in [0, w).
      const jLo = Math.min(wo, Math.max(0, Math.ceil(-dx / sw)));
      const jHi = Math.max(jLo, Math.min(wo, Math.floor((w - 1 - dx) / sw) + 1));
      for (let q = 0; q < planes; q++) {
        const plane = q * h * w;
        for (let i = 0; i < ho; i++) {
          const y = i * sh + a - top;
          if (y < 0 || y >= h) {
            dst.fill(0, o, o + wo);
            o += wo;
            continue;
          }
          const row = plane + y * w + dx;
          for (let j = 0; j < jLo; j++) dst[o + j] = 0;
          if (sw === 1) dst.set(src.subarray(row + jLo, row + jHi), o + jLo);
          else for (let j = jLo; j < jHi; j++) dst[o + j] = src[row + j * sw] ?? 0;
          for (let j = jHi; j < wo; j++) dst[o + j] = 0;
          o += wo;
        }
      }
    }
  }
}

/** An integer attribute of a project kernel, or a clear error naming the kernel. */
export function intAttr(attrs: tf.NamedAttrMap | undefined, key: string, kernel: string): number {
  const v = attrs?.[key];
  if (typeof v !== "number" || !Number.isInteger(v)) throw new Error(`${kernel}: bad ${key}`);
  return v;
}

const im2colKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const x = inputs.x;
  if (x === undefined || x.dtype !== "float32" || x.shape.length !== 4) {
    throw new Error(`${IM2COL_T}: expects a float32 [Ci, N, H, W] tensor`);
  }
  const wasm = asWasm(backend, IM2COL_T);
  const [ci = 1, n = 1, h = 1, w = 1] = x.shape;
  const g: Im2ColGeometry = {
    planes: ci * n,
    h,
    w,
    kh: intAttr(attrs, "kh", IM2COL_T),
    kw: intAttr(attrs, "kw", IM2COL_T),
    sh: intAttr(attrs, "sh", IM2COL_T),
    sw: intAttr(attrs, "sw", IM2COL_T),
    top: intAttr(attrs, "top", IM2COL_T),
    left: intAttr(attrs, "left", IM2COL_T),
    ho: intAttr(attrs, "ho", IM2COL_T),
    wo: intAttr(attrs, "wo", IM2COL_T),
  };
  const out = wasm.makeOutput([g.kh * g.kw * ci, n * g.ho * g.wo], "float32");
  im2colT(f32View(wasm, x), f32View(wasm, out), g);
  return out;
};

export function registerIm2ColKernel(): void {
  registerWasmKernel(IM2COL_T, im2colKernel);
}

/** Name of the filter-tap gather below (wasm only; used inside Conv2DBackpropInput, no gradient). */
export const PICK_TAPS_T = "XrayPickTapsT";

/**
 * out[r, c, co, ci] = w[rows[r], cols[c], ci, co] for a filter w of shape [kh, kw, ci, co]: the
 * taps of one phase of the transposed convolution, in the order given, with the channel axes
 * swapped. One pass; replaces a Transpose plus one Slice per tap plus Concats.
 */
export function pickTapsT(
  w: Float32Array,
  out: Float32Array,
  kw: number,
  ci: number,
  co: number,
  rows: readonly number[],
  cols: readonly number[],
): void {
  let o = 0;
  const tap = ci * co;
  for (const r of rows) {
    for (const c of cols) {
      const base = (r * kw + c) * tap;
      for (let j = 0; j < co; j++) {
        let src = base + j;
        for (let i = 0; i < ci; i++) {
          out[o++] = w[src] ?? 0;
          src += co;
        }
      }
    }
  }
}

function attrList(attrs: tf.NamedAttrMap | undefined, key: string): number[] {
  const v = attrs?.[key];
  if (!Array.isArray(v)) throw new Error(`${PICK_TAPS_T}: bad ${key}`);
  return v.map((e: unknown) => {
    if (typeof e !== "number" || !Number.isInteger(e)) throw new Error(`${PICK_TAPS_T}: bad ${key}`);
    return e;
  });
}

const pickTapsKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const w = inputs.filter;
  if (w === undefined || w.dtype !== "float32" || w.shape.length !== 4) {
    throw new Error(`${PICK_TAPS_T}: expects a float32 [kh, kw, Ci, Co] filter`);
  }
  const wasm = asWasm(backend, PICK_TAPS_T);
  const [kh = 1, kw = 1, ci = 1, co = 1] = w.shape;
  const rows = attrList(attrs, "rows");
  const cols = attrList(attrs, "cols");
  if (rows.some((r) => r < 0 || r >= kh) || cols.some((c) => c < 0 || c >= kw)) {
    throw new Error(`${PICK_TAPS_T}: tap out of range`);
  }
  const out = wasm.makeOutput([rows.length, cols.length, co, ci], "float32");
  pickTapsT(f32View(wasm, w), f32View(wasm, out), kw, ci, co, rows, cols);
  return out;
};

export function registerPickTapsKernel(): void {
  registerWasmKernel(PICK_TAPS_T, pickTapsKernel);
}

/** Name of the fused AdamW update below (wasm only; no gradient). */
export const ADAMW_UPDATE = "XrayAdamWUpdate";

/** The scalars of one AdamW step; weightDecay 0 means no decay for this variable. */
export interface AdamWScalars {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Bias corrections 1 - beta1^t and 1 - beta2^t. */
  c1: number;
  c2: number;
}

/** The step's scalars as float32 scalar tensors hold them (both the SIMD loop and the JS loop use these). */
export function adamwFloat32Scalars(s: AdamWScalars) {
  const f = Math.fround;
  return {
    b1: f(s.beta1),
    nb1: f(1 - s.beta1),
    b2: f(s.beta2),
    nb2: f(1 - s.beta2),
    c1: f(s.c1),
    c2: f(s.c2),
    eps: f(s.eps),
    lr: f(s.lr),
    wd: f(s.weightDecay),
  };
}

/**
 * One AdamW step over a whole variable in one pass, into fresh arrays (pOut, mOut, vOut):
 *   m2 = b1*m + (1-b1)*g;  v2 = b2*v + (1-b2)*g^2;
 *   upd = (m2/c1) / (sqrt(v2/c2) + eps) [+ wd*p];  p2 = p - lr*upd.
 * Every scalar is rounded to float32 as a scalar tensor would be, and every operation is rounded
 * to float32 as the op-by-op sequence rounds it (a double result of +, -, *, / or sqrt of float32
 * operands, rounded once to float32, is the correctly rounded float32 result), so this reproduces
 * the sequence of tf ops bit for bit.
 */
export function adamwUpdate(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  pOut: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
  s: AdamWScalars,
): void {
  const f = Math.fround;
  const { b1, nb1, b2, nb2, c1, c2, eps, lr, wd } = adamwFloat32Scalars(s);
  const n = p.length;
  if (g.length !== n || m.length !== n || v.length !== n) throw new Error(`${ADAMW_UPDATE}: size mismatch`);
  if (pOut.length !== n || mOut.length !== n || vOut.length !== n) {
    throw new Error(`${ADAMW_UPDATE}: output size mismatch`);
  }
  for (let i = 0; i < n; i++) {
    const gi = g[i] ?? 0;
    const m2 = f(f((m[i] ?? 0) * b1) + f(gi * nb1));
    const v2 = f(f((v[i] ?? 0) * b2) + f(f(gi * gi) * nb2));
    mOut[i] = m2;
    vOut[i] = v2;
    const upd = f(f(m2 / c1) / f(f(Math.sqrt(f(v2 / c2))) + eps));
    const pi = p[i] ?? 0;
    // Storing into a Float32Array rounds to float32.
    pOut[i] = wd === 0 ? pi - f(upd * lr) : pi - f(f(upd + f(pi * wd)) * lr);
  }
}

function attrScalar(attrs: tf.NamedAttrMap | undefined, key: string): number {
  const v = attrs?.[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${ADAMW_UPDATE}: bad ${key}`);
  return v;
}

/**
 * Inputs p, g, m, v (float32, one shape); outputs [p2, m2, v2], three new tensors: the inputs are
 * never written (a variable's data may be shared with other tensors through Identity).
 */
const adamwKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { p, g, m, v } = inputs;
  if (p === undefined || g === undefined || m === undefined || v === undefined) {
    throw new Error(`${ADAMW_UPDATE}: expects inputs p, g, m, v`);
  }
  for (const t of [p, g, m, v]) {
    if (t.dtype !== "float32") throw new Error(`${ADAMW_UPDATE}: float32 tensors only`);
    if (!tf.util.arraysEqual(t.shape, p.shape)) throw new Error(`${ADAMW_UPDATE}: shapes differ`);
  }
  const wasm = asWasm(backend, ADAMW_UPDATE);
  const s: AdamWScalars = {
    lr: attrScalar(attrs, "lr"),
    beta1: attrScalar(attrs, "beta1"),
    beta2: attrScalar(attrs, "beta2"),
    eps: attrScalar(attrs, "eps"),
    weightDecay: attrScalar(attrs, "weightDecay"),
    c1: attrScalar(attrs, "c1"),
    c2: attrScalar(attrs, "c2"),
  };
  const pOut = wasm.makeOutput([...p.shape], "float32");
  const mOut = wasm.makeOutput([...p.shape], "float32");
  const vOut = wasm.makeOutput([...p.shape], "float32");
  if (tf.util.sizeFromShape(p.shape) === 0) return [pOut, mOut, vOut];
  // Views after the last allocation: one can grow (and replace) the heap buffer.
  const views = [p, g, m, v, pOut, mOut, vOut].map((t) => f32View(wasm, t));
  const [pv, gv, mv, vv, po, mo, vo] = views;
  if (!pv || !gv || !mv || !vv || !po || !mo || !vo) throw new Error(`${ADAMW_UPDATE}: missing view`);
  const n = pv.length;
  const simd = simdAdamWFor(wasm);
  const n4 = simd === null ? 0 : n - (n % 4);
  if (simd !== null && n4 > 0) {
    simd.run(
      {
        p: pv.byteOffset,
        g: gv.byteOffset,
        m: mv.byteOffset,
        v: vv.byteOffset,
        pOut: po.byteOffset,
        mOut: mo.byteOffset,
        vOut: vo.byteOffset,
      },
      n4,
      adamwFloat32Scalars(s),
    );
  }
  if (n4 < n) {
    const tail = views.map((x) => x.subarray(n4));
    const [pt, gt, mt, vt, pto, mto, vto] = tail;
    if (!pt || !gt || !mt || !vt || !pto || !mto || !vto) throw new Error(`${ADAMW_UPDATE}: missing view`);
    adamwUpdate(pt, gt, mt, vt, pto, mto, vto, s);
  }
  return [pOut, mOut, vOut];
};

const simdAdamW = simdLoopPerBackend(makeSimdAdamW);
const adamwSwitch = simdSwitch();

/** The SIMD module over this backend's memory (made once), or null: off, or no SIMD / memory found. */
function simdAdamWFor(backend: BackendWasm) {
  return adamwSwitch.isOn() ? simdAdamW(backend) : null;
}

/**
 * Whether XrayAdamWUpdate runs its WebAssembly SIMD loop (on, the default) or the JS loop over
 * the heap (off; tests and A/B benchmarks). Both give the same bits.
 */
export const setAdamWSimd = adamwSwitch.set;

/** Registers the fused AdamW kernel on wasm (idempotent). */
export function registerAdamWKernel(): void {
  registerWasmKernel(ADAMW_UPDATE, adamwKernel);
}
