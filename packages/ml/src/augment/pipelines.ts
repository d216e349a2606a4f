/**
 * The three augmentation pipelines used for training, each drawing per-image parameters from a
 * seeded Rng (same seed and input -> identical output) and returning a new tensor the caller owns.
 *
 * Magnitudes are bounded so that anatomy survives: at most 15 degrees of rotation, 15% translation,
 * shear 0.15, contrast x0.5..1.5, brightness +-0.2, gamma 0.625..1.6, posterize to no fewer than 4
 * bits, solarize only above 0.8, cutout at most a quarter of the side, SSL crops keep >= 35% of the
 * area. Flips are on by default and can be switched off for anatomy with a fixed side (chest).
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  type AffineParams,
  affine,
  assertImages,
  autocontrast,
  brightness,
  type CropBox,
  type CutoutBox,
  contrast,
  cropResize,
  cutout,
  equalize,
  gamma,
  gaussianBlur,
  gaussianNoise,
  onSubset,
  posterize,
  sharpness,
  solarize,
} from "./ops";
import type { Rng } from "./rng";

export interface WeakAugmentOptions {
  /** Random horizontal flip with probability 0.5 (default true). */
  flip?: boolean;
  /** Maximum translation as a fraction of the side (default 0.125, as in FixMatch). */
  maxTranslate?: number;
  /** How uncovered pixels are filled (default "reflect"). */
  fillMode?: "reflect" | "nearest";
}

/** FixMatch's weak view: optional horizontal flip and a small translation with reflect fill. */
export function weakAugment(x: tf.Tensor4D, rng: Rng, options: WeakAugmentOptions = {}): tf.Tensor4D {
  assertImages(x, "weakAugment");
  const [n, h, w] = x.shape;
  const maxT = options.maxTranslate ?? 0.125;
  if (!(maxT >= 0 && maxT <= 0.25))
    throw new RangeError(`weakAugment: maxTranslate must be in [0, 0.25], got ${maxT}`);
  const params: AffineParams[] = [];
  for (let i = 0; i < n; i++) {
    params.push({
      flip: (options.flip ?? true) && rng.bool(0.5),
      tx: Math.round(rng.uniform(-maxT, maxT) * w),
      ty: Math.round(rng.uniform(-maxT, maxT) * h),
    });
  }
  return affine(x, params, options.fillMode ?? "reflect");
}

export const RAND_AUGMENT_OPS = [
  "identity",
  "autocontrast",
  "equalize",
  "brightness",
  "contrast",
  "gamma",
  "sharpness",
  "posterize",
  "solarize",
  "rotate",
  "shearX",
  "shearY",
  "translateX",
  "translateY",
] as const;
export type RandAugmentOp = (typeof RAND_AUGMENT_OPS)[number];

export interface StrongAugmentOptions {
  /** Ops per image (default 2). */
  n?: number;
  /** Magnitude 0..10 (default 10 = the documented bounds). */
  magnitude?: number;
  /** Draw each op's strength uniformly in [0, magnitude] (FixMatch's RandAugment variant; default true). */
  randomMagnitude?: boolean;
  /** Ops to choose from (default all of RAND_AUGMENT_OPS). */
  ops?: ReadonlyArray<RandAugmentOp>;
  /** Flip as in the weak view first (default true). */
  flip?: boolean;
  /** Cutout side as a fraction of the shorter side, drawn in [0, cutout] (default 0.25; 0 = off). */
  cutout?: number;
  /** Cutout fill value (default 0). */
  cutoutFill?: number;
}

interface StrongParams {
  geo: AffineParams;
  brightness: number;
  contrast: number;
  gamma: number;
  sharpness: number;
  posterize: number | null;
  solarize: number;
  autocontrast: boolean;
  equalize: boolean;
  cutout: CutoutBox | null;
}

/**
 * RandAugment-style strong view: each image gets its own `n` ops (chosen without replacement) with
 * random signs and strengths, then cutout. For speed on a batch, ops run in one fixed order with
 * identity parameters for images that did not draw them, and all geometric ops fold into one affine
 * warp.
 */
export function strongAugment(x: tf.Tensor4D, rng: Rng, options: StrongAugmentOptions = {}): tf.Tensor4D {
  assertImages(x, "strongAugment");
  const [n, h, w] = x.shape;
  const k = options.n ?? 2;
  const mag = options.magnitude ?? 10;
  if (!(mag >= 0 && mag <= 10))
    throw new RangeError(`strongAugment: magnitude must be in [0, 10], got ${mag}`);
  const ops = options.ops ?? RAND_AUGMENT_OPS;
  if (!Number.isInteger(k) || k < 0 || k > ops.length)
    throw new RangeError(`strongAugment: n must be an integer in [0, ${ops.length}]`);
  const cut = options.cutout ?? 0.25;
  if (!(cut >= 0 && cut <= 0.25))
    throw new RangeError(`strongAugment: cutout must be in [0, 0.25], got ${cut}`);
  const params: StrongParams[] = [];
  for (let i = 0; i < n; i++) {
    const p: StrongParams = {
      geo: { flip: (options.flip ?? true) && rng.bool(0.5) },
      brightness: 0,
      contrast: 1,
      gamma: 1,
      sharpness: 1,
      posterize: null,
      solarize: 2,
      autocontrast: false,
      equalize: false,
      cutout: null,
    };
    const chosen = rng.shuffle([...ops]).slice(0, k);
    for (const op of chosen) {
      const v = (mag / 10) * (options.randomMagnitude === false ? 1 : rng.next());
      const sign = rng.bool(0.5) ? 1 : -1;
      switch (op) {
        case "identity":
          break;
        case "autocontrast":
          p.autocontrast = true;
          break;
        case "equalize":
          p.equalize = true;
          break;
        case "brightness":
          p.brightness = sign * 0.2 * v;
          break;
        case "contrast":
          p.contrast = 1 + sign * 0.5 * v;
          break;
        case "gamma":
          p.gamma = Math.exp(sign * Math.log(1.6) * v);
          break;
        case "sharpness":
          p.sharpness = 1 + sign * 0.9 * v;
          break;
        case "posterize":
          p.posterize = 8 - Math.round(4 * v);
          break;
        case "solarize":
          p.solarize = 1 - 0.2 * v;
          break;
        case "rotate":
          p.geo.rotate = (sign * 15 * v * Math.PI) / 180;
          break;
        case "shearX":
          p.geo.shearX = sign * 0.15 * v;
          break;
        case "shearY":
          p.geo.shearY = sign * 0.15 * v;
          break;
        case "translateX":
          p.geo.tx = sign * 0.15 * v * w;
          break;
        case "translateY":
          p.geo.ty = sign * 0.15 * v * h;
          break;
      }
    }
    if (cut > 0) {
      const side = Math.max(1, Math.round(rng.uniform(0, cut) * Math.min(h, w)));
      const cy = rng.int(0, h - 1);
      const cx = rng.int(0, w - 1);
      const y = Math.max(0, cy - Math.floor(side / 2));
      const xx = Math.max(0, cx - Math.floor(side / 2));
      p.cutout = {
        y,
        x: xx,
        height: Math.min(h, cy - Math.floor(side / 2) + side) - y,
        width: Math.min(w, cx - Math.floor(side / 2) + side) - xx,
      };
    }
    params.push(p);
  }
  return tf.tidy(() => {
    const pick =
      <T>(f: (p: StrongParams) => T) =>
      (idx: number[]): T[] =>
        idx.map((i) => f(params[i] as StrongParams));
    const all = (s: tf.Tensor4D) => new Array<boolean>(s.shape[0]).fill(true);
    let y = affine(
      x,
      params.map((p) => p.geo),
      "reflect",
    );
    y = onSubset(
      y,
      params.map((p) => p.autocontrast),
      (s) => autocontrast(s, all(s)),
    );
    y = onSubset(
      y,
      params.map((p) => p.equalize),
      (s) => equalize(s, all(s)),
    );
    y = onSubset(
      y,
      params.map((p) => p.brightness !== 0),
      (s, idx) => brightness(s, pick((p) => p.brightness)(idx)),
    );
    y = onSubset(
      y,
      params.map((p) => p.contrast !== 1),
      (s, idx) => contrast(s, pick((p) => p.contrast)(idx)),
    );
    y = onSubset(
      y,
      params.map((p) => p.gamma !== 1),
      (s, idx) => gamma(s, pick((p) => p.gamma)(idx)),
    );
    y = onSubset(
      y,
      params.map((p) => p.sharpness !== 1),
      (s, idx) => sharpness(s, pick((p) => p.sharpness)(idx)),
    );
    y = onSubset(
      y,
      params.map((p) => p.posterize !== null),
      (s, idx) => posterize(s, pick((p) => p.posterize)(idx)),
    );
    y = onSubset(
      y,
      params.map((p) => p.solarize < 1),
      (s, idx) => solarize(s, pick((p) => p.solarize)(idx)),
    );
    if (params.some((p) => p.cutout !== null))
      y = cutout(
        y,
        params.map((p) => p.cutout),
        options.cutoutFill ?? 0,
      );
    return y;
  });
}

export interface SslViewOptions {
  /** Output [height, width] (default the input size). */
  outputSize?: [number, number];
  /** Random resized crop area fraction range (default [0.35, 1]). */
  scale?: [number, number];
  /** Crop aspect ratio range (default [3/4, 4/3]). */
  ratio?: [number, number];
  /** Horizontal flip with probability 0.5 (default true). */
  flip?: boolean;
  /** Maximum rotation in degrees (default 10, at most 15). */
  maxRotate?: number;
  /** Probability of brightness/contrast/gamma jitter (default 0.8). */
  colorJitter?: number;
  /**
   * Probability of Gaussian blur (default 0.5); sigma drawn in [0.1, blurSigma * side / 112] px
   * (default blurSigma 1: SimCLR's sigma <= 2 px at 224 px, about 1.1 px at 128).
   */
  blur?: number;
  blurSigma?: number;
  /** Probability of Gaussian noise (default 0.5) with std up to noiseStd (default 0.03). */
  noise?: number;
  noiseStd?: number;
}

/**
 * A self-supervised (SimCLR-style) view: random resized crop, small rotation, flip,
 * brightness/contrast/gamma, Gaussian blur and Gaussian noise.
 */
export function sslView(x: tf.Tensor4D, rng: Rng, options: SslViewOptions = {}): tf.Tensor4D {
  assertImages(x, "sslView");
  const [n, h, w] = x.shape;
  const [oh, ow] = options.outputSize ?? [h, w];
  const [smin, smax] = options.scale ?? [0.35, 1];
  if (!(smin > 0 && smin <= smax && smax <= 1))
    throw new RangeError(`sslView: scale must satisfy 0 < min <= max <= 1, got [${smin}, ${smax}]`);
  const [rmin, rmax] = options.ratio ?? [3 / 4, 4 / 3];
  const maxRot = options.maxRotate ?? 10;
  if (!(maxRot >= 0 && maxRot <= 15))
    throw new RangeError(`sslView: maxRotate must be in [0, 15], got ${maxRot}`);
  const sigmaMax = ((options.blurSigma ?? 1) * Math.min(oh, ow)) / 112;
  const boxes: CropBox[] = [];
  const geo: AffineParams[] = [];
  const bright: number[] = [];
  const contr: number[] = [];
  const gam: number[] = [];
  const sigma: number[] = [];
  const std: number[] = [];
  for (let i = 0; i < n; i++) {
    // Area fraction and aspect ratio (log-uniform), clamped to fit; normalised box corners.
    const area = rng.uniform(smin, smax);
    const ratio = Math.exp(rng.uniform(Math.log(rmin), Math.log(rmax)));
    const bw = Math.min(1, Math.sqrt(area * ratio));
    const bh = Math.min(1, Math.sqrt(area / ratio));
    const y1 = rng.uniform(0, 1 - bh);
    const x1 = rng.uniform(0, 1 - bw);
    boxes.push({ y1, x1, y2: y1 + bh, x2: x1 + bw });
    geo.push({
      flip: (options.flip ?? true) && rng.bool(0.5),
      rotate: (rng.uniform(-maxRot, maxRot) * Math.PI) / 180,
    });
    const jitter = rng.bool(options.colorJitter ?? 0.8);
    bright.push(jitter ? rng.uniform(-0.2, 0.2) : 0);
    contr.push(jitter ? rng.uniform(0.7, 1.3) : 1);
    gam.push(jitter ? Math.exp(rng.uniform(Math.log(0.7), Math.log(1.4))) : 1);
    // Two decimals keep the number of distinct blur kernels per batch small.
    sigma.push(
      rng.bool(options.blur ?? 0.5) ? Math.round(rng.uniform(0.1, Math.max(0.1, sigmaMax)) * 4) / 4 : 0,
    );
    std.push(rng.bool(options.noise ?? 0.5) ? rng.uniform(0, options.noiseStd ?? 0.03) : 0);
  }
  const noiseSeed = rng.seed();
  return tf.tidy(() => {
    let y = cropResize(x, boxes, oh, ow);
    y = affine(y, geo, "reflect");
    y = brightness(y, bright);
    y = contrast(y, contr);
    y = gamma(y, gam);
    y = gaussianBlur(y, sigma);
    y = gaussianNoise(y, std, noiseSeed);
    return y;
  });
}
