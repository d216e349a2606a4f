import * as tf from "@tensorflow/tfjs-core";
import { conv2dBackpropInputViaGemm } from "./col2im";
import {
  IM2COL_T,
  PICK_TAPS_T,
  registerAdamWKernel,
  registerIm2ColKernel,
  registerPickTapsKernel,
  setWasmJsKernels,
} from "./wasm-js-kernels";

/**
 * Training kernels for the wasm backend, composed from its own XNNPACK conv2d (SIMD) through the
 * engine, so the arithmetic never runs in scalar JS or in the backend's scalar reference loops.
 *
 * - Conv2DBackpropFilter (absent from tfjs-backend-wasm 4.22): the conv2d identity
 *   dW[a,b,ci,co] = sum_{n,i,j} xpad[n, i*s+a, j*s+b, ci] * dy[n,i,j,co]
 *   is a conv2d whose "batch" is ci, whose "channels" are n, whose filter is dy (spatial size
 *   Ho x Wo, dilated by the stride) and whose output is the kh x kw filter.
 * - Conv2DBackpropInput (the backend's own is a scalar loop): split by output phase. For stride s
 *   the input rows y = s*q + r only receive taps a = a0 + s*k; each of the s*s phases is a
 *   stride-1 conv2d of dy with a flipped, channel-transposed sub-filter, and the phases are
 *   interleaved back with two concats and reshapes (no transposes, no zero-inserted work).
 */

type Pad = "same" | "valid" | number | tf.backend_util.ExplicitPadding;
type RoundingMode = "floor" | "round" | "ceil";

interface ConvAttrs {
  strides: [number, number];
  pad: Pad;
  dimRoundingMode: RoundingMode | undefined;
}

function readConvAttrs(attrs: tf.NamedAttrMap | undefined, kernel: string): ConvAttrs {
  if (attrs === undefined) throw new Error(`${kernel}: missing attributes`);
  const { strides, pad, dataFormat, dimRoundingMode } = attrs;
  if (dataFormat !== undefined && dataFormat !== "NHWC") {
    throw new Error(`${kernel} on wasm supports NHWC only, got ${String(dataFormat)}`);
  }
  let s: [number, number];
  if (typeof strides === "number") s = [strides, strides];
  else if (Array.isArray(strides) && typeof strides[0] === "number" && typeof strides[1] === "number") {
    s = [strides[0], strides[1]];
  } else throw new Error(`${kernel}: bad strides ${JSON.stringify(strides)}`);
  let p: Pad;
  if (typeof pad === "number") p = pad;
  else if (typeof pad === "string") {
    if (pad !== "same" && pad !== "valid") throw new Error(`${kernel}: bad pad ${pad}`);
    p = pad;
  } else if (Array.isArray(pad) && pad.length === 4) p = readExplicitPadding(pad, kernel);
  else throw new Error(`${kernel}: bad pad ${JSON.stringify(pad)}`);
  let r: RoundingMode | undefined;
  if (dimRoundingMode === undefined || dimRoundingMode === null) r = undefined;
  else if (dimRoundingMode === "floor") r = "floor";
  else if (dimRoundingMode === "round") r = "round";
  else if (dimRoundingMode === "ceil") r = "ceil";
  else throw new Error(`${kernel}: bad dimRoundingMode ${String(dimRoundingMode)}`);
  return { strides: s, pad: p, dimRoundingMode: r };
}

function readExplicitPadding(pad: unknown[], kernel: string): tf.backend_util.ExplicitPadding {
  const pair = (v: unknown): [number, number] => {
    if (Array.isArray(v) && typeof v[0] === "number" && typeof v[1] === "number") return [v[0], v[1]];
    throw new Error(`${kernel}: bad explicit padding ${JSON.stringify(pad)}`);
  };
  return [pair(pad[0]), pair(pad[1]), pair(pad[2]), pair(pad[3])];
}

function readShape4(v: unknown, what: string): [number, number, number, number] {
  if (Array.isArray(v) && v.length === 4) {
    const [a, b, c, d] = v;
    if (typeof a === "number" && typeof b === "number" && typeof c === "number" && typeof d === "number") {
      return [a, b, c, d];
    }
  }
  throw new Error(`${what}: expected a rank-4 shape, got ${JSON.stringify(v)}`);
}

function asTensor4D(info: tf.TensorInfo | undefined, what: string): tf.Tensor4D {
  if (info === undefined) throw new Error(`${what}: missing input`);
  // A Tensor over the kernel input's buffer: it takes its own reference, or disposing it would
  // free the caller's data.
  const t = tf.engine().makeTensorFromTensorInfo(info);
  tf.backend().incRef(info.dataId);
  const [a, b, c, d] = readShape4(t.shape, what);
  // A fresh view over the same data id with the static rank the ops below want.
  return tf.reshape(t, [a, b, c, d]);
}

/** Output geometry of a channels-last, dilation-1 conv2d (what the gradient kernels need). */
function channelsLastConvInfo(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: RoundingMode,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
}

/**
 * dW for conv2d(x, W, strides, pad) given dy, as one XNNPACK conv2d:
 * input  = x as [Ci, H, W, N] (channels-in-batch), explicitly padded,
 * filter = dy as [Ho, Wo, N, Co], dilated by the forward stride, stride 1,
 * output = [Ci, kh', kw', Co] -> first kh x kw -> [kh, kw, Ci, Co].
 */
export function conv2dBackpropFilterViaConv(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = channelsLastConvInfo(x.shape, filterShape, strides, pad, dimRoundingMode);
    const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
    const { top, bottom, left, right } = info.padInfo;
    const [, ho, wo] = dy.shape;
    const xT = tf.transpose(x, [3, 1, 2, 0]);
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);
    // Rows beyond (Ho-1)*s + kh never meet a filter tap; trim them (or pad fewer) so the output is
    // exactly kh x kw where possible.
    const [, h, w] = x.shape;
    const needH = (ho - 1) * sh + kh;
    const needW = (wo - 1) * sw + kw;
    const padBottom = Math.max(0, needH - h - top);
    const padRight = Math.max(0, needW - w - left);
    let input = xT;
    if (h + top + padBottom > needH || w + left + padRight > needW) {
      const keepH = Math.min(h, needH - top);
      const keepW = Math.min(w, needW - left);
      input = tf.slice(xT, [0, 0, 0, 0], [-1, keepH, keepW, -1]);
    }
    void bottom;
    void right;
    const dw = tf.conv2d(
      input,
      dyT,
      1,
      [
        [0, 0],
        [top, padBottom],
        [left, padRight],
        [0, 0],
      ],
      "NHWC",
      [sh, sw],
    );
    const [, oh, ow] = dw.shape;
    const cropped = oh === kh && ow === kw ? dw : tf.slice(dw, [0, 0, 0, 0], [-1, kh, kw, -1]);
    return tf.transpose(cropped, [1, 2, 0, 3]);
  });
}

/**
 * dW for conv2d(x, W, strides, pad) given dy, as one GEMM:
 *   dW[(a, b, ci), co] = sum_{(n, i, j)} cols[(a, b, ci), (n, i, j)] * dy[(n, i, j), co]
 * where cols is the transposed im2col of x (a JS gather on the wasm heap) and the GEMM is an
 * XNNPACK 1x1 conv2d (threaded like every conv2d; the backend's own matMul is single-threaded).
 * Compared with conv2dBackpropFilterViaConv, whose reduction runs over N channels per filter tap
 * (16 for batch 16), the GEMM reduces over N*Ho*Wo in one run.
 */
export function conv2dBackpropFilterViaGemm(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  registerIm2ColKernel();
  return tf.tidy(() => {
    const info = channelsLastConvInfo(x.shape, filterShape, strides, pad, dimRoundingMode);
    const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
    const [n, , , ci] = x.shape;
    const [, ho, wo, co] = dy.shape;
    const xT = tf.transpose(x, [3, 0, 1, 2]);
    const cols = tf
      .engine()
      .runKernel(
        IM2COL_T,
        { x: xT },
        { kh, kw, sh, sw, top: info.padInfo.top, left: info.padInfo.left, ho, wo },
      );
    if (!(cols instanceof tf.Tensor)) throw new Error("im2col must return one tensor");
    const m = kh * kw * ci;
    const k = n * ho * wo;
    const dw = tf.conv2d(
      tf.reshape<tf.Rank.R4>(cols, [1, 1, m, k]),
      tf.reshape<tf.Rank.R4>(dy, [1, 1, k, co]),
      1,
      "valid",
    );
    return tf.reshape<tf.Rank.R4>(dw, [kh, kw, ci, co]);
  });
}

export type Conv2DBackpropFilterVariant = "auto" | "gemm" | "conv";
let filterVariant: Conv2DBackpropFilterVariant = "auto";

/** Picks the dW formulation (for A/B benchmarks; "auto" is the default). */
export function setConv2DBackpropFilterVariant(v: Conv2DBackpropFilterVariant): void {
  filterVariant = v;
}

function useGemmForFilter(x: tf.Tensor4D, filterShape: [number, number, number, number]): boolean {
  if (filterVariant !== "auto") return filterVariant === "gemm";
  const [kh, kw, ci] = filterShape;
  // Measured (bench/ml-speed/micro-dw.ts): the GEMM wins for 1x1 kernels and for few input
  // channels (the 7x7 stem on one grey channel), the conv formulation for 3x3 kernels over
  // 32+ channels. The im2col buffer is kh*kw times x; above ~16M floats keep the conv.
  if (kh * kw * x.size > 16 * 1024 * 1024) return false;
  return (kh === 1 && kw === 1) || kh * kw * ci <= 64;
}

interface Phase1D {
  /** First filter tap of this phase. */
  a0: number;
  /** Number of taps (may be 0: the phase receives no gradient). */
  taps: number;
  /** Padding before dy (negative: drop that many leading dy rows). */
  padBefore: number;
}

/**
 * For one spatial axis: input positions y = s*q + r (q in [0, outLen)) receive
 * dy[q + c - k] * W[a0 + s*k] with c = (r + padTop - a0) / s, i.e. a stride-1 correlation of dy
 * with the reversed sub-filter, offset by c - taps + 1.
 */
function phase1D(r: number, s: number, k: number, padTop: number): Phase1D {
  const a0 = (((r + padTop) % s) + s) % s;
  const taps = a0 < k ? Math.ceil((k - a0) / s) : 0;
  const c = (r + padTop - a0) / s;
  return { a0, taps, padBefore: taps - 1 - c };
}

function reversedTaps(phase: Phase1D, s: number): number[] {
  return Array.from({ length: phase.taps }, (_, j) => phase.a0 + s * (phase.taps - 1 - j));
}

/** filter[rows[i], cols[j], :, :] stacked as [rows.length, cols.length, ...] with slices + concats. */
function pickTaps(filter: tf.Tensor4D, rows: number[], cols: number[]): tf.Tensor4D {
  const rowBlocks = rows.map((r) => {
    const parts = cols.map((c) => tf.slice(filter, [r, c, 0, 0], [1, 1, -1, -1]));
    const [only] = parts;
    return parts.length === 1 && only !== undefined ? only : tf.concat(parts, 1);
  });
  const [first] = rowBlocks;
  return rowBlocks.length === 1 && first !== undefined ? first : tf.concat(rowBlocks, 0);
}

/** Runs a stride-1 conv2d where padBefore may be negative (drop rows) and trims/pads output to len. */
function phaseConv(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  rowPhase: Phase1D,
  colPhase: Phase1D,
  outH: number,
  outW: number,
): tf.Tensor4D {
  let input = dy;
  const [, ho, wo] = dy.shape;
  const dropTop = Math.max(0, -rowPhase.padBefore);
  const dropLeft = Math.max(0, -colPhase.padBefore);
  const padTop = Math.max(0, rowPhase.padBefore);
  const padLeft = Math.max(0, colPhase.padBefore);
  if (dropTop > 0 || dropLeft > 0) {
    input = tf.slice(dy, [0, dropTop, dropLeft, 0], [-1, ho - dropTop, wo - dropLeft, -1]);
  }
  const [, ih, iw] = input.shape;
  // Output length = ih + padTop + padBottom - taps + 1 = outH.
  const padBottom = Math.max(0, outH + rowPhase.taps - 1 - ih - padTop);
  const padRight = Math.max(0, outW + colPhase.taps - 1 - iw - padLeft);
  const out = tf.conv2d(input, filter, 1, [
    [0, 0],
    [padTop, padBottom],
    [padLeft, padRight],
    [0, 0],
  ]);
  const [, oh, ow] = out.shape;
  return oh === outH && ow === outW ? out : tf.slice(out, [0, 0, 0, 0], [-1, outH, outW, -1]);
}

/** dx for conv2d(x, W, strides, pad) given dy, from s*s stride-1 XNNPACK convolutions. */
export function conv2dBackpropInputViaConv(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: [number, number],
  pad: Pad,
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  return tf.tidy((): tf.Tensor4D => {
    const info = channelsLastConvInfo(
      inputShape,
      readShape4(filter.shape, "filter"),
      strides,
      pad,
      dimRoundingMode,
    );
    const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
    const [n, h, w, ci] = inputShape;
    const qh = Math.ceil(h / sh);
    const qw = Math.ceil(w / sw);
    // W [kh, kw, Ci, Co] -> channels swapped: [kh, kw, Co, Ci]. The spatial flip is done by
    // picking taps in reverse order with slices + concats (memcpy), not the backend's slow Reverse.
    // On wasm one JS gather per phase does the swap and the flip together.
    const onWasm = tf.getBackend() === "wasm";
    if (onWasm) registerPickTapsKernel();
    const swapped = onWasm ? filter : tf.transpose(filter, [0, 1, 3, 2]);
    const taps = (rowTaps: number[], colTaps: number[]): tf.Tensor4D => {
      if (!onWasm) return pickTaps(swapped, rowTaps, colTaps);
      const out = tf.engine().runKernel(PICK_TAPS_T, { filter }, { rows: rowTaps, cols: colTaps });
      if (!(out instanceof tf.Tensor)) throw new Error("pickTaps must return one tensor");
      return tf.reshape(out, readShape4(out.shape, "pickTaps"));
    };
    const rows: tf.Tensor4D[] = [];
    for (let r = 0; r < sh; r++) {
      const rowPhase = phase1D(r, sh, kh, info.padInfo.top);
      const cols: tf.Tensor4D[] = [];
      for (let c = 0; c < sw; c++) {
        const colPhase = phase1D(c, sw, kw, info.padInfo.left);
        if (rowPhase.taps === 0 || colPhase.taps === 0) {
          cols.push(tf.zeros([n, qh, qw, ci]));
          continue;
        }
        // Correlation tap j of this phase is filter tap a0 + s*(taps-1-j).
        const sub = taps(reversedTaps(rowPhase, sh), reversedTaps(colPhase, sw));
        cols.push(phaseConv(dy, sub, rowPhase, colPhase, qh, qw));
      }
      // [N, qh, qw, sw*Ci] -> [N, qh, qw*sw, Ci]: column q*sw + c.
      const rowBlock: tf.Tensor4D | undefined =
        sw === 1 ? cols[0] : tf.reshape(tf.concat(cols, 3), [n, qh, qw * sw, ci]);
      if (rowBlock === undefined) throw new Error("conv2dBackpropInput: no column phase");
      rows.push(rowBlock);
    }
    // [N, qh, sh*qw*sw, Ci] -> [N, qh*sh, qw*sw, Ci]: row q*sh + r.
    const full: tf.Tensor4D | undefined =
      sh === 1 ? rows[0] : tf.reshape(tf.concat(rows, 2), [n, qh * sh, qw * sw, ci]);
    if (full === undefined) throw new Error("conv2dBackpropInput: no row phase");
    const [, fh, fw] = full.shape;
    return fh === h && fw === w ? full : tf.slice(full, [0, 0, 0, 0], [n, h, w, ci]);
  });
}

const conv2DBackpropFilterKernel: tf.KernelFunc = ({ inputs, attrs }) => {
  const { strides, pad, dimRoundingMode } = readConvAttrs(attrs, "Conv2DBackpropFilter");
  const filterShape = readShape4(attrs?.filterShape, "Conv2DBackpropFilter filterShape");
  return tf.tidy(() => {
    const x = asTensor4D(inputs.x, "Conv2DBackpropFilter x");
    const dy = asTensor4D(inputs.dy, "Conv2DBackpropFilter dy");
    return useGemmForFilter(x, filterShape)
      ? conv2dBackpropFilterViaGemm(x, dy, filterShape, strides, pad, dimRoundingMode)
      : conv2dBackpropFilterViaConv(x, dy, filterShape, strides, pad, dimRoundingMode);
  });
};

export type Conv2DBackpropInputForm = "auto" | "gemm" | "conv";
let inputForm: Conv2DBackpropInputForm = "auto";

/** Picks the dx formulation on wasm (for A/B benchmarks; "auto" is the default). */
export function setConv2DBackpropInputForm(f: Conv2DBackpropInputForm): void {
  inputForm = f;
}

/**
 * The GEMM + col2im form (col2im.ts) when the map is small beside the filter: its packing is
 * Co*M elements instead of the filter's kh*kw*Ci*Co, and its scatter is kh*kw*Ci*M in JS.
 * Measured per layer with bench/ml-speed/micro-dx.ts (docs/benchmarks.md): it wins where the output
 * pixels M = N*Ho*Wo are at most twice the output channels Co (2.6 vs 8.8 ms for a 4x4x128->256/2
 * layer at batch 16, 4.1 vs 4.7 for 4x4x128->128) and loses at M = 1024 (7.4 vs 2.9 for 8x8x64->64).
 */
export function useGemmForInput(dy: tf.Tensor4D, filter: tf.Tensor4D): boolean {
  if (inputForm !== "auto") return inputForm === "gemm";
  const [n = 1, ho = 1, wo = 1, co = 1] = dy.shape;
  return n * ho * wo <= 2 * co && filter.size >= 16 * 1024;
}

const conv2DBackpropInputKernel: tf.KernelFunc = ({ inputs, attrs }) => {
  const { strides, pad, dimRoundingMode } = readConvAttrs(attrs, "Conv2DBackpropInput");
  const inputShape = readShape4(attrs?.inputShape, "Conv2DBackpropInput inputShape");
  return tf.tidy(() => {
    const dy = asTensor4D(inputs.dy, "Conv2DBackpropInput dy");
    const filter = asTensor4D(inputs.filter, "Conv2DBackpropInput filter");
    if (useGemmForInput(dy, filter)) {
      const info = channelsLastConvInfo(
        inputShape,
        readShape4(filter.shape, "filter"),
        strides,
        pad,
        dimRoundingMode,
      );
      return conv2dBackpropInputViaGemm(inputShape, dy, filter, {
        sh: info.strideHeight,
        sw: info.strideWidth,
        top: info.padInfo.top,
        left: info.padInfo.left,
      });
    }
    return conv2dBackpropInputViaConv(inputShape, dy, filter, strides, pad, dimRoundingMode);
  });
};

/**
 * The batch-norm gradient of tfjs-core tiles rsqrt(variance) to the full activation shape before
 * multiplying; a broadcast multiply gives the same values without the full-size copy. Same math
 * otherwise (checked against finite differences in the tests), for every backend.
 */
const fusedBatchNormGrad: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ["x", "mean", "variance", "scale"],
  gradFunc: (dyIn, saved, attrs) => {
    const dy = Array.isArray(dyIn) ? dyIn[0] : dyIn;
    const [x, mean, variance, scale] = saved;
    if (dy === undefined || x === undefined || mean === undefined || variance === undefined) {
      throw new Error("FusedBatchNorm gradient: missing saved tensors");
    }
    const eps = typeof attrs.varianceEpsilon === "number" ? attrs.varianceEpsilon : 0.001;
    const scaleValue = scale ?? tf.scalar(1);
    const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const invStd = tf.rsqrt(tf.add(variance, tf.scalar(eps)));
    const minusHalfRCube = () => tf.mul(tf.pow(invStd, tf.scalar(3)), tf.scalar(-0.5));
    if (mean.rank === 1) {
      // Per-channel statistics: every reduced gradient is a [C] combination of two sums,
      //   s1 = sum(dy),  s2 = sum(dy * (x - mean)),
      // so the full-size work is one Sub, one Mul and two Sums (was 2 Subs, ~6 Muls, 4 Sums).
      const [s1, s2] = tf.tidy(() => [
        tf.sum(dy, reductionAxes),
        tf.sum(tf.mul(dy, tf.sub(x, mean)), reductionAxes),
      ]);
      if (s1 === undefined || s2 === undefined) throw new Error("unreachable");
      return {
        x: () => tf.reshape(tf.mul(dy, tf.mul(invStd, scaleValue)), x.shape),
        mean: () => tf.reshape(tf.neg(tf.mul(s1, tf.mul(invStd, scaleValue))), mean.shape),
        variance: () => tf.reshape(tf.mul(tf.mul(s2, scaleValue), minusHalfRCube()), mean.shape),
        scale: () => tf.reshape(tf.mul(s2, invStd), mean.shape),
        offset: () => tf.reshape(s1, mean.shape),
      };
    }
    return {
      x: () => tf.reshape(tf.mul(dy, tf.mul(invStd, scaleValue)), x.shape),
      mean: () => tf.reshape(tf.mul(dy, tf.neg(tf.mul(invStd, scaleValue))), mean.shape),
      variance: () =>
        tf.reshape(tf.mul(tf.mul(dy, scaleValue), tf.mul(tf.sub(x, mean), minusHalfRCube())), mean.shape),
      scale: () => tf.reshape(tf.mul(dy, tf.mul(tf.sub(x, mean), invStd)), mean.shape),
      offset: () => tf.reshape(dy, mean.shape),
    };
  },
};

/**
 * Mean's gradient is dy / size broadcast over the reduced axes. tfjs-core computes it as
 * ones(x.shape) * dy, then / size: two full-size passes after the fill. Dividing the small dy first
 * leaves one (the same values: x * 1 is exact). tf.broadcastTo would be one pass too, but the
 * backend's Tile is ~14x slower than fill + multiply here.
 */
const meanGrad: tf.GradConfig = {
  kernelName: tf.Mean,
  inputsToSave: ["x"],
  gradFunc: (dyIn, saved, attrs) => {
    const dy = Array.isArray(dyIn) ? dyIn[0] : dyIn;
    const [x] = saved;
    if (dy === undefined || x === undefined) throw new Error("Mean gradient: missing tensors");
    const axisAttr = attrs.axis;
    const axisList =
      typeof axisAttr === "number"
        ? [axisAttr]
        : Array.isArray(axisAttr)
          ? axisAttr.map((a) => {
              if (typeof a !== "number") throw new Error("Mean gradient: bad axis");
              return a;
            })
          : null;
    // No axis: every axis.
    const axes = tf.util.parseAxisParam(axisList ?? x.shape.map((_, i) => i), x.shape);
    const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const size = axes.reduce((n, a) => n * (x.shape[a] ?? 1), 1);
    return {
      x: () => tf.mul(tf.div(tf.reshape(dy, expanded), size), tf.ones(x.shape, "float32")),
    };
  },
};

export type Conv2DBackpropInputVariant = "fast" | "builtin";

let builtinBackpropInput: tf.KernelConfig | undefined;
let registered = false;

/**
 * Registers the wasm training kernels (idempotent). Call before or after the wasm backend starts;
 * initBackend() does it for you.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  if (tf.getKernel(tf.Conv2DBackpropFilter, "wasm") === undefined) {
    tf.registerKernel({
      kernelName: tf.Conv2DBackpropFilter,
      backendName: "wasm",
      kernelFunc: conv2DBackpropFilterKernel,
    });
  }
  setConv2DBackpropInputVariant("fast");
  setWasmJsKernels(true);
  registerAdamWKernel();
  tf.registerGradient(fusedBatchNormGrad);
  tf.registerGradient(meanGrad);
}

/** Switches the wasm Conv2DBackpropInput between ours and the backend's own (for A/B benchmarks). */
export function setConv2DBackpropInputVariant(variant: Conv2DBackpropInputVariant): void {
  const current = tf.getKernel(tf.Conv2DBackpropInput, "wasm");
  if (
    builtinBackpropInput === undefined &&
    current !== undefined &&
    current.kernelFunc !== conv2DBackpropInputKernel
  ) {
    builtinBackpropInput = current;
  }
  if (current !== undefined) tf.unregisterKernel(tf.Conv2DBackpropInput, "wasm");
  if (variant === "fast") {
    tf.registerKernel({
      kernelName: tf.Conv2DBackpropInput,
      backendName: "wasm",
      kernelFunc: conv2DBackpropInputKernel,
    });
    return;
  }
  if (builtinBackpropInput === undefined)
    throw new Error("the wasm backend's own Conv2DBackpropInput is not loaded");
  tf.registerKernel(builtinBackpropInput);
  // Its setup (binding the wasm export) only runs when the backend starts; run it if it already has.
  const setup = builtinBackpropInput.setupFunc;
  const wasm = tf.findBackend("wasm");
  if (setup !== undefined && wasm !== null && wasm !== undefined) setup(wasm);
}
