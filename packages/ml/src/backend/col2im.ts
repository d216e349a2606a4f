/**
 * dx of a convolution as one GEMM plus a scatter (col2im), for small feature maps.
 *
 * The wasm backend's convolutions are XNNPACK operators that repack their filter whenever the
 * filter tensor is new: a transpose plus a pack, ~10 ns per filter element. The dx convolutions of
 * a training step always have a new filter (the flipped weights), so at the last stages of a
 * ResNet (a 2x2 map under a 3x3x256x256 filter) packing costs ~4 times the arithmetic. Written as
 *   cols [kh*kw*Ci, M] = W [kh*kw*Ci, Co] . dy^T [Co, M]        (M = N*Ho*Wo output pixels)
 * the operator packs dy^T (Co*M elements, small there) instead of the filter, and W is read as it
 * lies. Then every column scatters into dx: dx[n, i*sh + a - top, j*sw + b - left, c] +=
 * cols[(a*kw + b)*Ci + c][(n*Ho + i)*Wo + j].
 */
import * as tf from "@tensorflow/tfjs-core";
import { asWasm, f32View, intAttr, registerWasmKernel } from "./wasm-js-kernels";

export const COL2IM = "XrayCol2Im";

export interface Col2ImGeometry {
  n: number;
  h: number;
  w: number;
  ci: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
  ho: number;
  wo: number;
}

/** dst (N*H*W*Ci, NHWC) = scatter-add of cols ([kh*kw*Ci, N*Ho*Wo]); dst is overwritten. */
export function col2im(cols: Float32Array, dst: Float32Array, g: Col2ImGeometry): void {
  const { n, h, w, ci, kh, kw, sh, sw, top, left, ho, wo } = g;
  const m = n * ho * wo;
  dst.fill(0);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const rowBase = (a * kw + b) * ci;
      // Output columns j whose input column j*sw + b - left lies in [0, w).
      const dx = b - left;
      const jLo = Math.min(wo, Math.max(0, Math.ceil(-dx / sw)));
      const jHi = Math.max(jLo, Math.min(wo, Math.floor((w - 1 - dx) / sw) + 1));
      for (let bn = 0; bn < n; bn++) {
        for (let i = 0; i < ho; i++) {
          const y = i * sh + a - top;
          if (y < 0 || y >= h) continue;
          for (let j = jLo; j < jHi; j++) {
            const col = (bn * ho + i) * wo + j;
            const out = ((bn * h + y) * w + j * sw + dx) * ci;
            let src = rowBase * m + col;
            for (let c = 0; c < ci; c++, src += m) dst[out + c] = (dst[out + c] ?? 0) + (cols[src] ?? 0);
          }
        }
      }
    }
  }
}

const col2imKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const cols = inputs.cols;
  if (cols === undefined || cols.dtype !== "float32" || cols.shape.length !== 2) {
    throw new Error(`${COL2IM}: expects a float32 [kh*kw*Ci, N*Ho*Wo] tensor`);
  }
  const keys = ["n", "h", "w", "ci", "kh", "kw", "sh", "sw", "top", "left", "ho", "wo"] as const;
  const g = Object.fromEntries(keys.map((k) => [k, intAttr(attrs, k, COL2IM)])) as unknown as Col2ImGeometry;
  if (cols.shape[0] !== g.kh * g.kw * g.ci || cols.shape[1] !== g.n * g.ho * g.wo) {
    throw new Error(`${COL2IM}: cols ${JSON.stringify(cols.shape)} do not match the geometry`);
  }
  const wasm = asWasm(backend, COL2IM);
  const out = wasm.makeOutput([g.n, g.h, g.w, g.ci], "float32");
  col2im(f32View(wasm, cols), f32View(wasm, out), g);
  return out;
};

export function registerCol2ImKernel(): void {
  registerWasmKernel(COL2IM, col2imKernel);
}

/**
 * dx for conv2d(x, W, strides, pad) given dy [N, Ho, Wo, Co], W [kh, kw, Ci, Co]: the GEMM (as a
 * 1x1 XNNPACK convolution whose filter is dy^T) and the col2im scatter. wasm backend only.
 */
export function conv2dBackpropInputViaGemm(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  geometry: { sh: number; sw: number; top: number; left: number },
): tf.Tensor4D {
  registerCol2ImKernel();
  return tf.tidy(() => {
    const [n, h, w, ci] = inputShape;
    const [kh = 1, kw = 1, , co = 1] = filter.shape;
    const [, ho = 1, wo = 1] = dy.shape;
    const m = n * ho * wo;
    const k = kh * kw * ci;
    const dyT = tf.transpose(tf.reshape<tf.Rank.R2>(dy, [m, co]));
    const cols = tf.conv2d(
      tf.reshape<tf.Rank.R4>(filter, [1, 1, k, co]),
      tf.reshape<tf.Rank.R4>(dyT, [1, 1, co, m]),
      1,
      "valid",
    );
    const out = tf.engine().runKernel(
      COL2IM,
      { cols: tf.reshape(cols, [k, m]) },
      {
        n,
        h,
        w,
        ci,
        kh,
        kw,
        sh: geometry.sh,
        sw: geometry.sw,
        top: geometry.top,
        left: geometry.left,
        ho,
        wo,
      },
    );
    if (!(out instanceof tf.Tensor)) throw new Error(`${COL2IM} must return one tensor`);
    return tf.reshape<tf.Rank.R4>(out, [n, h, w, ci]);
  });
}
