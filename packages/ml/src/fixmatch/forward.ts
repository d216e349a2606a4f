import * as tf from "@tensorflow/tfjs-core";
import type { ClassifierNet } from "../models/resnet.js";
import { embed, normalizeImages } from "../ssl/pretrain.js";

/**
 * Logits [N, heads] of images in [0,1]: normalize -> encoder -> mean-pool -> dropout (seeded, only
 * when `dropoutSeed` is given) -> heads.
 */
export function classifierLogits(
  net: ClassifierNet,
  images: tf.Tensor4D,
  opts: { training: boolean; dropoutSeed?: number },
): tf.Tensor2D {
  return tf.tidy(() => {
    const x = normalizeImages(images, net.config.normalization);
    const h = embed(net.encoder, x, opts.training);
    const rate = net.config.dropout;
    const d =
      opts.dropoutSeed !== undefined && rate > 0 ? tf.dropout(h, rate, undefined, opts.dropoutSeed) : h;
    return net.heads.apply(d) as tf.Tensor2D;
  });
}

/** Element-wise sigmoid cross-entropy from logits (numerically stable). */
export function sigmoidBce(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))),
  );
}

/**
 * Mean over heads of each head's masked mean loss; heads with no label in the batch are left out.
 * `perElement` and `mask` are [N, K]; `countsPerHead[k]` is the number of 1s in mask's column k.
 */
export function maskedHeadMean(perElement: tf.Tensor, mask: tf.Tensor, countsPerHead: number[]): tf.Scalar {
  return tf.tidy(() => {
    const active = countsPerHead.filter((c) => c > 0).length;
    if (active === 0) return tf.scalar(0);
    const sums = tf.sum(tf.mul(perElement, mask), 0);
    const denom = tf.tensor1d(countsPerHead.map((c) => Math.max(1, c)));
    return tf.div(tf.sum(tf.div(sums, denom)), active) as tf.Scalar;
  });
}
