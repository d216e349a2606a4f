import * as tf from "@tensorflow/tfjs-core";

/**
 * Training-mode batch normalization over all axes but the last, with the closed-form gradient
 *   dx = g/sigma * (dy - mean(dy) - xhat * mean(dy * xhat)),  dgamma = sum(dy * xhat),  dbeta = sum(dy)
 * in 7 full-tensor passes, where autodiff through tf.moments + tf.batchNorm (what tfjs-layers'
 * BatchNormalization does) takes about 25. Returns the batch mean and variance for the moving
 * averages; they carry no gradient of their own (their effect on x is inside dx).
 */
export function batchNormTraining(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon = 1e-3,
): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const axes = [0, 1, 2];
  // The batch statistics are computed inside the custom op, off the gradient tape (their effect
  // on x is inside dx); autodiff through tf.moments would redo ~10 full-size passes for nothing.
  let stats: [tf.Tensor1D, tf.Tensor1D] | null = null;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, gIn, bIn, save] = args;
    if (!(xIn instanceof tf.Tensor) || !(gIn instanceof tf.Tensor) || !(bIn instanceof tf.Tensor)) {
      throw new Error("batchNormTraining: expected x, gamma, beta tensors");
    }
    if (typeof save !== "function") throw new Error("batchNormTraining: missing save function");
    const x4 = tf.reshape<tf.Rank.R4>(xIn, x.shape);
    const m = tf.mean<tf.Tensor1D>(x4, axes);
    const v = tf.mean<tf.Tensor1D>(tf.squaredDifference(x4, m), axes);
    stats = [tf.keep(m), tf.keep(v)];
    save([x4, gIn, m, v]);
    return {
      value: tf.batchNorm4d(
        x4,
        m,
        v,
        tf.reshape<tf.Rank.R1>(bIn, [-1]),
        tf.reshape<tf.Rank.R1>(gIn, [-1]),
        epsilon,
      ),
      gradFunc: (dyIn: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, gs, ms, vs] = saved;
        if (xs === undefined || gs === undefined || ms === undefined || vs === undefined) {
          throw new Error("batchNormTraining: missing saved tensors");
        }
        const [g, m, v] = [gs, ms, vs].map((t) => tf.reshape<tf.Rank.R1>(t, [-1]));
        if (g === undefined || m === undefined || v === undefined) throw new Error("unreachable");
        const dy = tf.reshape<tf.Rank.R4>(dyIn, x.shape);
        const count = x.size / (x.shape[3] ?? 1);
        const xhat = tf.batchNorm4d(tf.reshape<tf.Rank.R4>(xs, x.shape), m, v, undefined, undefined, epsilon);
        const dBeta = tf.sum<tf.Tensor1D>(dy, axes);
        const dGamma = tf.sum<tf.Tensor1D>(tf.mul(dy, xhat), axes);
        const k = tf.mul<tf.Tensor1D>(g, tf.rsqrt(tf.add(v, epsilon)));
        // dx = dy*k + xhat*(-k*dGamma/count) + (-k*dBeta/count); the affine part is one batchNorm pass.
        const scale = tf.mul<tf.Tensor1D>(k, tf.div(dGamma, -count));
        const offset = tf.mul<tf.Tensor1D>(k, tf.div(dBeta, -count));
        const affine = tf.batchNorm4d(xhat, tf.zerosLike(m), tf.onesLike(v), offset, scale, 0);
        const dx = tf.add(tf.mul(dy, k), affine);
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = op(x, gamma, beta);
  const kept: [tf.Tensor1D, tf.Tensor1D] | null = stats;
  if (kept === null) throw new Error("batchNormTraining: statistics not computed");
  // Hand back ordinary (tidy-managed) copies and release the kept originals.
  const mean = tf.clone(kept[0]);
  const variance = tf.clone(kept[1]);
  tf.dispose(kept);
  return { y: tf.reshape<tf.Rank.R4>(y, x.shape), mean, variance };
}
