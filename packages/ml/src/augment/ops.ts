/**
 * Batched grey-scale image ops with per-sample parameters, as tfjs-core tensor ops. Images are
 * [N, H, W, 1] float32 in [0, 1]. Each op takes plain per-sample numbers (drawn by the caller from a
 * seeded Rng) so that results are deterministic, and every op is its own tf.tidy.
 *
 * Backend notes (tfjs 4.22): the cpu Transform kernel returns after the first image of a batch (the
 * rest stay at the fill value), so on cpu `affine` transforms one image at a time; the wasm GatherV2
 * kernel mishandles batchDims, so `equalize` gathers from a flattened table instead.
 */
import * as tf from "@tensorflow/tfjs-core";
import { tfjsSeed } from "../train/seed.js";

export interface AffineParams {
  /** Mirror left-right. */
  flip?: boolean;
  /** Rotation in radians (positive = clockwise on screen, since y points down). */
  rotate?: number;
  shearX?: number;
  shearY?: number;
  /** Isotropic zoom (> 1 enlarges the content). */
  scale?: number;
  /** Translation of the content in pixels (+x right, +y down). */
  tx?: number;
  ty?: number;
}

export type FillMode = "reflect" | "nearest" | "constant" | "wrap";

export function assertImages(x: tf.Tensor, where: string): asserts x is tf.Tensor4D {
  if (x.rank !== 4 || x.shape[3] !== 1)
    throw new RangeError(`${where}: expected [N, H, W, 1] grey-scale images, got [${x.shape.join(", ")}]`);
  if (x.dtype !== "float32") throw new RangeError(`${where}: expected float32 images, got ${x.dtype}`);
}

function perSample(values: ReadonlyArray<number>, n: number, where: string): tf.Tensor4D {
  if (values.length !== n) throw new RangeError(`${where}: ${values.length} parameters for ${n} images`);
  return tf.tensor4d(Array.from(values), [n, 1, 1, 1]);
}

/**
 * The 8 projective-transform coefficients (tf.image.transform: output pixel -> input pixel) of
 * an affine map about the image centre: p_out = c + t + R * Sh * S * F * (p_in - c).
 */
export function affineCoefficients(p: AffineParams, height: number, width: number): number[] {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const f = p.flip ? -1 : 1;
  const s = p.scale ?? 1;
  const th = p.rotate ?? 0;
  const shx = p.shearX ?? 0;
  const shy = p.shearY ?? 0;
  const cos = Math.cos(th);
  const sin = Math.sin(th);
  // R * Sh, with Sh = [[1, shx], [shy, 1]]
  const rs00 = cos - sin * shy;
  const rs01 = cos * shx - sin;
  const rs10 = sin + cos * shy;
  const rs11 = sin * shx + cos;
  // * S * F
  const m00 = rs00 * s * f;
  const m01 = rs01 * s;
  const m10 = rs10 * s * f;
  const m11 = rs11 * s;
  const det = m00 * m11 - m01 * m10;
  if (Math.abs(det) < 1e-9) throw new RangeError("affineCoefficients: singular transform");
  const i00 = m11 / det;
  const i01 = -m01 / det;
  const i10 = -m10 / det;
  const i11 = m00 / det;
  const ox = cx + (p.tx ?? 0);
  const oy = cy + (p.ty ?? 0);
  return [i00, i01, cx - (i00 * ox + i01 * oy), i10, i11, cy - (i10 * ox + i11 * oy), 0, 0];
}

function isIdentity(p: AffineParams): boolean {
  return !p.flip && !p.rotate && !p.shearX && !p.shearY && (p.scale ?? 1) === 1 && !p.tx && !p.ty;
}

/** How far (in pixels, per axis) the source coordinates of any output corner fall outside the image. */
function overhang(coeffs: ReadonlyArray<ReadonlyArray<number>>, h: number, w: number): [number, number] {
  let oy = 0;
  let ox = 0;
  for (const c of coeffs) {
    for (const [x, y] of [
      [0, 0],
      [w - 1, 0],
      [0, h - 1],
      [w - 1, h - 1],
    ] as const) {
      const sx = (c[0] as number) * x + (c[1] as number) * y + (c[2] as number);
      const sy = (c[3] as number) * x + (c[4] as number) * y + (c[5] as number);
      ox = Math.max(ox, -sx, sx - (w - 1));
      oy = Math.max(oy, -sy, sy - (h - 1));
    }
  }
  return [oy, ox];
}

/**
 * Per-sample affine warp with bilinear sampling; identity samples are passed through untouched.
 * "reflect" mirrors the image about its edges ([dcba|abcd|dcba], TensorFlow's reflect) by padding
 * it ourselves and sampling the padded image, because the wasm kernel's reflect mode wraps around
 * instead; displacements beyond one image size continue with the edge pixel.
 */
export function affine(
  x: tf.Tensor4D,
  params: ReadonlyArray<AffineParams>,
  fillMode: FillMode = "reflect",
  fillValue = 0,
): tf.Tensor4D {
  assertImages(x, "affine");
  const [n, h, w] = x.shape;
  if (params.length !== n) throw new RangeError(`affine: ${params.length} parameter sets for ${n} images`);
  if (params.every(isIdentity)) return tf.tidy(() => tf.clone(x));
  return tf.tidy(() => {
    let coeffs = params.map((p) => affineCoefficients(p, h, w));
    let src = x;
    let mode: FillMode = fillMode;
    let py = 0;
    let px = 0;
    if (fillMode === "reflect") {
      const [oy, ox] = overhang(coeffs, h, w);
      py = Math.min(h, Math.ceil(oy) + 1);
      px = Math.min(w, Math.ceil(ox) + 1);
      src = tf.mirrorPad(
        x,
        [
          [0, 0],
          [py, py],
          [px, px],
          [0, 0],
        ],
        "symmetric",
      );
      coeffs = coeffs.map((c) => [
        c[0] as number,
        c[1] as number,
        (c[2] as number) + px,
        c[3] as number,
        c[4] as number,
        (c[5] as number) + py,
        0,
        0,
      ]);
      mode = "nearest";
    }
    if (tf.getBackend() !== "cpu") {
      return tf.image.transform(src, tf.tensor2d(coeffs, [n, 8]), "bilinear", mode, fillValue, [h, w]);
    }
    // The cpu kernel only transforms the first image of a batch, so go one image at a time.
    const parts = tf
      .split(src, n, 0)
      .map((xi, i) =>
        isIdentity(params[i] as AffineParams)
          ? tf.slice(xi, [0, py, px, 0], [1, h, w, 1])
          : tf.image.transform(
              xi as tf.Tensor4D,
              tf.tensor2d([coeffs[i] as number[]], [1, 8]),
              "bilinear",
              mode,
              fillValue,
              [h, w],
            ),
      );
    return tf.concat(parts, 0) as tf.Tensor4D;
  });
}

/**
 * Applies `op` only to the images whose `selected` flag is set (gathered into a smaller batch) and
 * reassembles the batch in order; the rest pass through. RandAugment picks each op for a few images
 * of a batch, so this saves most of the work of the expensive ops.
 *
 * On the cpu and wasm backends the tensors live in host memory and their Slice / Gather kernels are
 * slow along the batch axis (wasm: about 4 ms per slice of a 64 x 128 x 128 batch), so images are
 * moved with typed-array copies there; other backends use slice + concat.
 */
export function onSubset(
  x: tf.Tensor4D,
  selected: ReadonlyArray<boolean>,
  op: (subset: tf.Tensor4D, indices: number[]) => tf.Tensor4D,
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (selected.length !== n) throw new RangeError(`onSubset: ${selected.length} flags for ${n} images`);
  const idx = selected.flatMap((v, i) => (v ? [i] : []));
  if (idx.length === 0) return tf.clone(x);
  if (idx.length === n) return op(x, idx);
  const backend = tf.getBackend();
  if (backend === "cpu" || backend === "wasm") {
    const per = h * w * c;
    const src = x.dataSync<"float32">();
    const subData = new Float32Array(idx.length * per);
    idx.forEach((i, j) => {
      subData.set(src.subarray(i * per, (i + 1) * per), j * per);
    });
    const sub = tf.tensor4d(subData, [idx.length, h, w, c]);
    const done = op(sub, idx);
    const doneData = done.dataSync<"float32">();
    const out = Float32Array.from(src);
    idx.forEach((i, j) => {
      out.set(doneData.subarray(j * per, (j + 1) * per), i * per);
    });
    tf.dispose([sub, done]);
    return tf.tensor4d(out, x.shape);
  }
  return tf.tidy(() => {
    const done = op(tf.gather(x, tf.tensor1d(idx, "int32")), idx);
    const parts: tf.Tensor4D[] = [];
    // Consecutive runs from one source become one slice.
    let i = 0;
    let j = 0;
    while (i < n) {
      const sel = selected[i] === true;
      let end = i;
      while (end + 1 < n && (selected[end + 1] === true) === sel) end++;
      const len = end - i + 1;
      parts.push(
        sel ? tf.slice(done, [j, 0, 0, 0], [len, h, w, c]) : tf.slice(x, [i, 0, 0, 0], [len, h, w, c]),
      );
      if (sel) j += len;
      i = end + 1;
    }
    return tf.concat(parts, 0);
  });
}

export function clip01(x: tf.Tensor4D): tf.Tensor4D {
  return tf.clipByValue(x, 0, 1);
}

/** x + delta_i, clipped. */
export function brightness(x: tf.Tensor4D, delta: ReadonlyArray<number>): tf.Tensor4D {
  return tf.tidy(() => clip01(tf.add(x, perSample(delta, x.shape[0], "brightness"))));
}

/** Scale each image's deviation from its own mean by factor_i, clipped. */
export function contrast(x: tf.Tensor4D, factor: ReadonlyArray<number>): tf.Tensor4D {
  return tf.tidy(() => {
    const m = tf.mean(x, [1, 2, 3], true);
    return clip01(tf.add(tf.mul(tf.sub(x, m), perSample(factor, x.shape[0], "contrast")), m));
  });
}

/** x^gamma_i (gamma > 0). */
export function gamma(x: tf.Tensor4D, g: ReadonlyArray<number>): tf.Tensor4D {
  if (g.some((v) => !(v > 0))) throw new RangeError("gamma: every gamma must be > 0");
  // Broadcast the exponent with a multiply first: wasm's broadcasting Pow is about 6x slower.
  return tf.tidy(() =>
    clip01(tf.pow(tf.clipByValue(x, 0, 1), tf.mul(tf.onesLike(x), perSample(g, x.shape[0], "gamma")))),
  );
}

/** Reflect padding by r pixels on both spatial axes (r is capped at size - 1 by the callers). */
function mirrorPad(x: tf.Tensor4D, r: number): tf.Tensor4D {
  return tf.mirrorPad(
    x,
    [
      [0, 0],
      [r, r],
      [r, r],
      [0, 0],
    ],
    "reflect",
  );
}

/** PIL-style sharpness: blend from the smoothed image (factor 0) through the original (1) and beyond (sharpened). */
export function sharpness(x: tf.Tensor4D, factor: ReadonlyArray<number>): tf.Tensor4D {
  return tf.tidy(() => {
    const k = tf.tensor4d(
      [1, 1, 1, 1, 5, 1, 1, 1, 1].map((v) => v / 13),
      [3, 3, 1, 1],
    );
    if (Math.min(x.shape[1], x.shape[2]) < 2) return tf.clone(x);
    const smooth = tf.conv2d(mirrorPad(x, 1), k, 1, "valid");
    const f = perSample(factor, x.shape[0], "sharpness");
    return clip01(tf.add(smooth, tf.mul(f, tf.sub(x, smooth))));
  });
}

function where(mask: ReadonlyArray<boolean>, a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
  const m = tf.tensor4d(
    mask.map((v) => (v ? 1 : 0)),
    [mask.length, 1, 1, 1],
  );
  return tf.add(tf.mul(m, a), tf.mul(tf.sub(1, m), b));
}

/** Keep `bits_i` bits of an 8-bit quantisation (bits in 1..8); samples with bits null are untouched. */
export function posterize(x: tf.Tensor4D, bits: ReadonlyArray<number | null>): tf.Tensor4D {
  return tf.tidy(() => {
    const q = bits.map((b) => 2 ** (8 - (b ?? 8)));
    const qt = perSample(q, x.shape[0], "posterize");
    const p = tf.div(
      tf.mul(tf.floor(tf.div(tf.mul(tf.clipByValue(x, 0, 1), 255), qt)), qt),
      255,
    ) as tf.Tensor4D;
    return where(
      bits.map((b) => b !== null),
      p,
      x,
    );
  });
}

/** Invert pixels above threshold_i (a threshold of 1 or more leaves the image untouched). */
export function solarize(x: tf.Tensor4D, threshold: ReadonlyArray<number>): tf.Tensor4D {
  return tf.tidy(() => {
    const t = perSample(threshold, x.shape[0], "solarize");
    // step(x - t) rather than a broadcasting comparison, which is slow on wasm; x + above * (1 - 2x).
    const above = tf.step(tf.sub(x, t));
    return tf.add(x, tf.mul(above, tf.sub(1, tf.mul(x, 2)))) as tf.Tensor4D;
  });
}

/** Stretch each selected image to span [0, 1] (flat images are left alone). */
export function autocontrast(x: tf.Tensor4D, apply: ReadonlyArray<boolean>): tf.Tensor4D {
  return tf.tidy(() => {
    const lo = tf.min(x, [1, 2, 3], true);
    const hi = tf.max(x, [1, 2, 3], true);
    const range = tf.sub(hi, lo);
    // Per-image weights rather than a full-size comparison: flat images keep their values.
    const on = tf.mul(
      tf.cast(tf.greater(range, 1e-6), "float32"),
      tf.tensor4d(
        apply.map((v) => (v ? 1 : 0)),
        [apply.length, 1, 1, 1],
      ),
    );
    const stretched = clip01(tf.div(tf.sub(x, lo), tf.maximum(range, 1e-6)) as tf.Tensor4D);
    return tf.add(tf.mul(on, stretched), tf.mul(tf.sub(1, on), x)) as tf.Tensor4D;
  });
}

/** Histogram equalisation over 256 levels, per selected image. */
export function equalize(x: tf.Tensor4D, apply: ReadonlyArray<boolean>): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    const hw = h * w;
    const levels = tf.round(tf.mul(tf.clipByValue(tf.reshape(x, [n, hw]), 0, 1), 255));
    const bins = tf.cast(levels, "int32") as tf.Tensor2D;
    const hist = tf.denseBincount(bins, new Float32Array(0), 256);
    const cdf = tf.cumsum(hist, 1);
    // The cdf at the darkest present level maps to 0.
    const cdfMin = tf.min(tf.where(tf.greater(hist, 0), cdf, tf.fill([n, 256], hw)), 1, true);
    // Row offsets added in float32 and cast once: a broadcasting int32 add is very slow on wasm.
    const offsets = tf.reshape(tf.range(0, n * 256, 256, "float32"), [n, 1]);
    const flatCdf: tf.Tensor1D = tf.reshape(cdf, [n * 256]);
    const flatIdx: tf.Tensor1D = tf.reshape(tf.cast(tf.add(levels, offsets), "int32"), [n * hw]);
    // Table lookup: GatherNd is about 5x faster than GatherV2 on wasm, GatherV2 is faster on cpu.
    const looked: tf.Tensor2D = tf.reshape(
      tf.getBackend() === "cpu"
        ? tf.gather(flatCdf, flatIdx)
        : tf.gatherND(flatCdf, tf.reshape(flatIdx, [n * hw, 1])),
      [n, hw],
    );
    const span = tf.sub(hw, cdfMin);
    const eq = tf.div(tf.sub(looked, cdfMin), tf.maximum(span, 1));
    // A single-level (flat) image has nothing to equalise and is left as it is.
    const flat = tf.mul(tf.cast(tf.equal(span, 0), "float32"), tf.reshape(x, [n, hw]));
    const kept = tf.add(tf.mul(eq, tf.cast(tf.greater(span, 0), "float32")), flat);
    return where(apply, clip01(tf.reshape(kept, [n, h, w, 1])), x);
  });
}

export interface CutoutBox {
  /** Top-left corner and size in pixels; a box with zero size leaves the image untouched. */
  y: number;
  x: number;
  height: number;
  width: number;
}

/** Fill one axis-aligned box per image with `fill` (default 0). */
export function cutout(x: tf.Tensor4D, boxes: ReadonlyArray<CutoutBox | null>, fill = 0): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    if (boxes.length !== n) throw new RangeError(`cutout: ${boxes.length} boxes for ${n} images`);
    const b = boxes.map((bx) => bx ?? { y: 0, x: 0, height: 0, width: 0 });
    const rows = tf.reshape(tf.range(0, h), [1, h, 1, 1]);
    const cols = tf.reshape(tf.range(0, w), [1, 1, w, 1]);
    const y0 = perSample(
      b.map((v) => v.y),
      n,
      "cutout",
    );
    const y1 = perSample(
      b.map((v) => v.y + v.height),
      n,
      "cutout",
    );
    const x0 = perSample(
      b.map((v) => v.x),
      n,
      "cutout",
    );
    const x1 = perSample(
      b.map((v) => v.x + v.width),
      n,
      "cutout",
    );
    const inside = tf.mul(
      tf.cast(tf.logicalAnd(tf.greaterEqual(rows, y0), tf.less(rows, y1)), "float32"),
      tf.cast(tf.logicalAnd(tf.greaterEqual(cols, x0), tf.less(cols, x1)), "float32"),
    );
    return tf.add(tf.mul(inside, fill), tf.mul(tf.sub(1, inside), x)) as tf.Tensor4D;
  });
}

function gaussianKernel1d(sigma: number, maxRadius: number): number[] {
  const r = Math.min(maxRadius, Math.max(1, Math.ceil(2 * sigma)));
  const k: number[] = [];
  for (let i = -r; i <= r; i++) k.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const s = k.reduce((a, v) => a + v, 0);
  return k.map((v) => v / s);
}

/** Separable Gaussian blur with reflect padding; sigma_i in pixels, 0 = untouched. */
export function gaussianBlur(x: tf.Tensor4D, sigma: ReadonlyArray<number>): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    if (sigma.length !== n) throw new RangeError(`gaussianBlur: ${sigma.length} sigmas for ${n} images`);
    if (Math.min(h, w) < 2) return tf.clone(x);
    let out = x;
    // One pass per distinct sigma over just the images that drew it.
    for (const s of [...new Set(sigma)].filter((v) => v > 0)) {
      const k = gaussianKernel1d(s, Math.min(h, w) - 1);
      const r = (k.length - 1) / 2;
      const ky = tf.tensor4d(k, [k.length, 1, 1, 1]);
      const kx = tf.tensor4d(k, [1, k.length, 1, 1]);
      out = onSubset(
        out,
        sigma.map((v) => v === s),
        (sub) => tf.conv2d(tf.conv2d(mirrorPad(sub, r), ky, 1, "valid"), kx, 1, "valid") as tf.Tensor4D,
      );
    }
    return out === x ? tf.clone(x) : out;
  });
}

/** Additive Gaussian noise with per-image standard deviation, seeded, clipped to [0, 1]. */
export function gaussianNoise(x: tf.Tensor4D, std: ReadonlyArray<number>, seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    if (std.every((s) => s === 0)) return tf.clone(x);
    const noise = tf.randomNormal(x.shape, 0, 1, "float32", tfjsSeed(seed));
    return clip01(tf.add(x, tf.mul(noise, perSample(std, x.shape[0], "gaussianNoise"))));
  });
}

export interface CropBox {
  /** Normalised [0, 1] corners, as tf.image.cropAndResize takes them. */
  y1: number;
  x1: number;
  y2: number;
  x2: number;
}

/** Crop one box per image and resize it to [outHeight, outWidth] (bilinear). */
export function cropResize(
  x: tf.Tensor4D,
  boxes: ReadonlyArray<CropBox>,
  outHeight: number,
  outWidth: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const n = x.shape[0];
    if (boxes.length !== n) throw new RangeError(`cropResize: ${boxes.length} boxes for ${n} images`);
    const b = tf.tensor2d(
      boxes.map((v) => [v.y1, v.x1, v.y2, v.x2]),
      [n, 4],
    );
    const idx = tf.tensor1d(
      boxes.map((_, i) => i),
      "int32",
    );
    return tf.image.cropAndResize(x, b, idx, [outHeight, outWidth], "bilinear");
  });
}
