/**
 * Plain float64 NHWC convolution and its two gradients, written out as loops, independent of
 * TF.js: the yardstick for the wasm gradient kernels. Padding follows TensorFlow's rules.
 */

export type PadMode = "same" | "valid";

export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  ci: number;
  kh: number;
  kw: number;
  co: number;
  stride: number;
  pad: PadMode;
}

export interface ConvOut {
  ho: number;
  wo: number;
  padTop: number;
  padLeft: number;
}

export function convOutput(g: ConvGeometry): ConvOut {
  if (g.pad === "valid") {
    return {
      ho: Math.ceil((g.h - g.kh + 1) / g.stride),
      wo: Math.ceil((g.w - g.kw + 1) / g.stride),
      padTop: 0,
      padLeft: 0,
    };
  }
  const ho = Math.ceil(g.h / g.stride);
  const wo = Math.ceil(g.w / g.stride);
  const padH = Math.max((ho - 1) * g.stride + g.kh - g.h, 0);
  const padW = Math.max((wo - 1) * g.stride + g.kw - g.w, 0);
  return { ho, wo, padTop: Math.floor(padH / 2), padLeft: Math.floor(padW / 2) };
}

const xIndex = (g: ConvGeometry, b: number, y: number, x: number, c: number) =>
  ((b * g.h + y) * g.w + x) * g.ci + c;
const wIndex = (g: ConvGeometry, a: number, bb: number, c: number, o: number) =>
  ((a * g.kw + bb) * g.ci + c) * g.co + o;

/** Visits every (output, tap) pair that touches a real (unpadded) input pixel. */
function forEachTap(
  g: ConvGeometry,
  visit: (b: number, i: number, j: number, a: number, bb: number, xi: number, xj: number) => void,
): void {
  const { ho, wo, padTop, padLeft } = convOutput(g);
  for (let b = 0; b < g.n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let a = 0; a < g.kh; a++) {
          const xi = i * g.stride + a - padTop;
          if (xi < 0 || xi >= g.h) continue;
          for (let bb = 0; bb < g.kw; bb++) {
            const xj = j * g.stride + bb - padLeft;
            if (xj < 0 || xj >= g.w) continue;
            visit(b, i, j, a, bb, xi, xj);
          }
        }
}

export function conv2dRef(g: ConvGeometry, x: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const { ho, wo } = convOutput(g);
  const y = new Float64Array(g.n * ho * wo * g.co);
  forEachTap(g, (b, i, j, a, bb, xi, xj) => {
    const yBase = ((b * ho + i) * wo + j) * g.co;
    for (let c = 0; c < g.ci; c++) {
      const xv = x[xIndex(g, b, xi, xj, c)] ?? 0;
      for (let o = 0; o < g.co; o++)
        y[yBase + o] = (y[yBase + o] ?? 0) + xv * (w[wIndex(g, a, bb, c, o)] ?? 0);
    }
  });
  return y;
}

/** dL/dx given dL/dy. */
export function conv2dBackpropInputRef(
  g: ConvGeometry,
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
): Float64Array {
  const { ho, wo } = convOutput(g);
  const dx = new Float64Array(g.n * g.h * g.w * g.ci);
  forEachTap(g, (b, i, j, a, bb, xi, xj) => {
    const yBase = ((b * ho + i) * wo + j) * g.co;
    for (let c = 0; c < g.ci; c++) {
      let s = 0;
      for (let o = 0; o < g.co; o++) s += (dy[yBase + o] ?? 0) * (w[wIndex(g, a, bb, c, o)] ?? 0);
      const k = xIndex(g, b, xi, xj, c);
      dx[k] = (dx[k] ?? 0) + s;
    }
  });
  return dx;
}

/** dL/dW given dL/dy. */
export function conv2dBackpropFilterRef(
  g: ConvGeometry,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
): Float64Array {
  const { ho, wo } = convOutput(g);
  const dw = new Float64Array(g.kh * g.kw * g.ci * g.co);
  forEachTap(g, (b, i, j, a, bb, xi, xj) => {
    const yBase = ((b * ho + i) * wo + j) * g.co;
    for (let c = 0; c < g.ci; c++) {
      const xv = x[xIndex(g, b, xi, xj, c)] ?? 0;
      for (let o = 0; o < g.co; o++) {
        const k = wIndex(g, a, bb, c, o);
        dw[k] = (dw[k] ?? 0) + xv * (dy[yBase + o] ?? 0);
      }
    }
  });
  return dw;
}

/** Deterministic values in [-1, 1) (a small LCG), so failures reproduce. */
export function seededValues(count: number, seed: number): Float64Array {
  const out = new Float64Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** max |a-b| / (1 + max |b|): a scale-aware error for float32 results against float64. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
    maxRef = Math.max(maxRef, Math.abs(b[i] ?? 0));
  }
  return maxDiff / (1 + maxRef);
}
