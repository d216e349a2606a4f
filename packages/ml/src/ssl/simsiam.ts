import * as tf from "@tensorflow/tfjs-core";

/**
 * Identity in the forward pass, zero gradient in the backward pass (tf.js has no stop_gradient op).
 * Whatever produced `x` receives no gradient through this path.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...inputs) => {
    const a = inputs[0];
    if (!(a instanceof tf.Tensor)) throw new Error("stopGradient takes a tensor");
    return { value: tf.clone(a), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  });
  return f(x) as T;
}

/** Rows scaled to unit length (a zero row stays zero; the gradient stays finite). */
function l2NormalizeRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-12)));
}

/** Negative cosine similarity, mean over rows: D(p, z) = -mean_i <p_i/|p_i|, z_i/|z_i|>. */
export function negativeCosine(p: tf.Tensor2D, z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(
    () => tf.neg(tf.mean(tf.sum(tf.mul(l2NormalizeRows(p), l2NormalizeRows(z)), 1))) as tf.Scalar,
  );
}

/**
 * SimSiam's symmetric loss for the projections z1, z2 and predictions p1, p2 of two views:
 * D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2, with sg the stop-gradient. Lies in [-1, 1]; -1 when each
 * prediction points the same way as the other view's projection.
 */
export function simsiamLoss(p1: tf.Tensor2D, p2: tf.Tensor2D, z1: tf.Tensor2D, z2: tf.Tensor2D): tf.Scalar {
  return tf.tidy(
    () =>
      tf.mul(
        tf.add(negativeCosine(p1, stopGradient(z2)), negativeCosine(p2, stopGradient(z1))),
        0.5,
      ) as tf.Scalar,
  );
}
