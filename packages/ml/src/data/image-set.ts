import * as tf from "@tensorflow/tfjs-core";

/** Grey images held as bytes (N x size x size), turned into float [0,1] tensors per batch. */
export interface ImageSet {
  count: number;
  size: number;
  pixels: Uint8Array;
}

export function imageBatch(set: ImageSet, indices: readonly number[]): tf.Tensor4D {
  const px = set.size * set.size;
  const out = new Float32Array(indices.length * px);
  indices.forEach((idx, i) => {
    if (idx < 0 || idx >= set.count) throw new RangeError(`image index ${idx} out of range`);
    const src = set.pixels.subarray(idx * px, (idx + 1) * px);
    for (let j = 0; j < px; j++) out[i * px + j] = (src[j] ?? 0) / 255;
  });
  return tf.tensor4d(out, [indices.length, set.size, set.size, 1]);
}

export function subsetImages(set: ImageSet, indices: readonly number[]): ImageSet {
  const px = set.size * set.size;
  const pixels = new Uint8Array(indices.length * px);
  indices.forEach((idx, i) => {
    pixels.set(set.pixels.subarray(idx * px, (idx + 1) * px), i * px);
  });
  return { count: indices.length, size: set.size, pixels };
}

/** Labels per image and head: 1, 0, or NaN when that head's label is missing. */
export interface LabelMatrix {
  heads: string[];
  /** count x heads.length, row-major */
  values: Float32Array;
}

export function labelRow(labels: LabelMatrix, idx: number): Float32Array {
  const k = labels.heads.length;
  return labels.values.subarray(idx * k, (idx + 1) * k);
}
