import * as tf from "@tensorflow/tfjs-core";
import type { ImageSet } from "./image-set.js";
import { readNpz } from "./npz.js";

export interface NpzSplit {
  images: ImageSet;
  /** One label per image (first label column). */
  labels: number[];
}

function toImages(arr: { shape: number[]; data: ArrayLike<number> | BigInt64Array }, name: string): ImageSet {
  const [n, h, w] = arr.shape;
  if (n === undefined || h === undefined || w === undefined || h !== w)
    throw new Error(`${name}: expected [N,H,W], got [${arr.shape}]`);
  if (!(arr.data instanceof Uint8Array)) throw new Error(`${name}: expected uint8 images`);
  return { count: n, size: h, pixels: arr.data };
}

/**
 * Reads a MedMNIST-style npz (train_images/train_labels, val_*, test_*). `size` resizes the images
 * (bilinear) when it differs from the stored size.
 */
export async function readMedMnistNpz(
  path: string,
  opts: { size?: number } = {},
): Promise<Record<string, NpzSplit>> {
  const arrays = await readNpz(path);
  const out: Record<string, NpzSplit> = {};
  for (const split of ["train", "val", "test"]) {
    const im = arrays.get(`${split}_images`);
    const lb = arrays.get(`${split}_labels`);
    if (!im || !lb) continue;
    let images = toImages(im, `${split}_images`);
    if (opts.size && opts.size !== images.size) images = resizeImageSet(images, opts.size);
    const k = lb.shape[1] ?? 1;
    const labels: number[] = [];
    for (let i = 0; i < images.count; i++) labels.push(Number(lb.data[i * k] ?? 0));
    out[split] = { images, labels };
  }
  return out;
}

export function resizeImageSet(set: ImageSet, size: number): ImageSet {
  const pixels = new Uint8Array(set.count * size * size);
  const chunk = 256;
  for (let s = 0; s < set.count; s += chunk) {
    const n = Math.min(chunk, set.count - s);
    const r = tf.tidy(() => {
      const x = tf.tensor4d(
        set.pixels.subarray(s * set.size * set.size, (s + n) * set.size * set.size),
        [n, set.size, set.size, 1],
        "int32",
      );
      return tf.clipByValue(
        tf.round(tf.image.resizeBilinear(tf.cast(x, "float32"), [size, size], true)),
        0,
        255,
      );
    });
    pixels.set(Uint8Array.from(r.dataSync()), s * size * size);
    r.dispose();
  }
  return { count: set.count, size, pixels };
}
