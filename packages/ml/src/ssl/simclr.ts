import * as tf from "@tensorflow/tfjs-core";

/**
 * NT-Xent (SimCLR) loss for two batches of projections of the same images: each row's positive is
 * the other view of the same image, its negatives the other 2N-2 rows. Mean over the 2N rows.
 */
export function ntXentLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const n = z1.shape[0];
    const z = tf.concat([z1, z2], 0);
    const zn = tf.div(z, tf.add(tf.norm(z, 2, 1, true), 1e-8));
    const sim = tf.div(tf.matMul(zn, zn, false, true), temperature);
    const logits = tf.sub(sim, tf.mul(tf.eye(2 * n), 1e9));
    const targetIdx = Array.from({ length: 2 * n }, (_, i) => (i < n ? i + n : i - n));
    const targets = tf.oneHot(tf.tensor1d(targetIdx, "int32"), 2 * n);
    const logp = tf.logSoftmax(logits, 1);
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, logp), 1))) as tf.Scalar;
  });
}
