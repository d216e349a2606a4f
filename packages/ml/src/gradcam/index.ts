import * as tf from "@tensorflow/tfjs-core";
import sharp from "sharp";
import type { ClassifierNet } from "../models/resnet.js";
import { normalizeImages } from "../ssl/pretrain.js";

export interface GradCamResult {
  /** size x size, in [0,1] (1 = strongest evidence for the head). */
  heatmap: Float32Array;
  size: number;
  /** The head's probability on this image. */
  prob: number;
  head: string;
}

/**
 * Grad-CAM for one head on one image ([H,W] or [1,H,W,1] in [0,1]): the last conv block's feature
 * maps weighted by the spatially averaged gradient of the head's logit, ReLU, bilinearly resized to
 * the input resolution and scaled to [0,1].
 */
export async function gradCam(
  net: ClassifierNet,
  image: tf.Tensor,
  head: string | number,
): Promise<GradCamResult> {
  const k = typeof head === "number" ? head : net.headKeys.indexOf(head);
  if (k < 0 || k >= net.headKeys.length) throw new Error(`unknown head ${String(head)}`);
  const size = net.config.encoder.inputSize;
  const [cam, logit] = tf.tidy(() => {
    const x = (image.rank === 2 ? image.reshape([1, size, size, 1]) : image) as tf.Tensor4D;
    const feats = net.encoder.apply(normalizeImages(x, net.config.normalization), {
      training: false,
    }) as tf.Tensor4D;
    const headLogit = (f: tf.Tensor): tf.Scalar =>
      tf.sum(tf.slice(net.heads.apply(tf.mean(f, [1, 2])) as tf.Tensor2D, [0, k], [1, 1])) as tf.Scalar;
    const g = tf.grad(headLogit)(feats);
    const w = tf.mean(g, [1, 2], true);
    const c = tf.relu(tf.sum(tf.mul(feats, w), 3, true)) as tf.Tensor4D;
    const up = tf.image.resizeBilinear(c, [size, size], true);
    const mx = tf.max(up);
    const norm = tf.div(up, tf.maximum(mx, 1e-12));
    return [norm.reshape([size * size]), headLogit(feats)];
  });
  const heatmap = (await cam.data()) as Float32Array;
  const l = (await logit.data())[0] ?? 0;
  tf.dispose([cam, logit]);
  return {
    heatmap: Float32Array.from(heatmap),
    size,
    prob: 1 / (1 + Math.exp(-l)),
    head: net.headKeys[k] ?? "",
  };
}

/** Jet-like colour map: 0 -> dark blue, 0.5 -> green/yellow, 1 -> red. */
export function jet(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, v));
  const r = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 3)));
  const g = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 2)));
  const b = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 1)));
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/**
 * A PNG of the grey image with the heatmap blended on top (alpha scaled by heat so cold areas stay
 * grey). `grey` is size*size bytes or floats in [0,1]; `outSize` upsamples for viewing.
 */
export async function heatmapOverlayPng(
  grey: Uint8Array | Float32Array,
  heatmap: Float32Array,
  size: number,
  opts: { alpha?: number; outSize?: number } = {},
): Promise<Buffer> {
  const alpha = opts.alpha ?? 0.5;
  const rgb = Buffer.alloc(size * size * 3);
  const isFloat = grey instanceof Float32Array;
  for (let i = 0; i < size * size; i++) {
    const gv = isFloat ? Math.round(Math.min(1, Math.max(0, grey[i] ?? 0)) * 255) : (grey[i] ?? 0);
    const h = heatmap[i] ?? 0;
    const [r, g, b] = jet(h);
    const a = alpha * h;
    rgb[i * 3] = Math.round(gv * (1 - a) + r * a);
    rgb[i * 3 + 1] = Math.round(gv * (1 - a) + g * a);
    rgb[i * 3 + 2] = Math.round(gv * (1 - a) + b * a);
  }
  let img = sharp(rgb, { raw: { width: size, height: size, channels: 3 } });
  if (opts.outSize && opts.outSize !== size)
    img = img.resize(opts.outSize, opts.outSize, { kernel: "nearest" });
  return img.png().toBuffer();
}
