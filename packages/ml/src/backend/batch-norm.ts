import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";

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

interface LayerVariableLike {
  read(): tf.Tensor;
  write(value: tf.Tensor): void;
}

/** The fields of tfjs-layers' BatchNormalization that its training call reads. */
interface BatchNormLayerLike {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: LayerVariableLike | null | undefined;
  beta: LayerVariableLike | null | undefined;
  movingMean: LayerVariableLike;
  movingVariance: LayerVariableLike;
}

type LayerCall = (
  inputs: tf.Tensor | tf.Tensor[],
  kwargs: Record<string, unknown>,
) => tf.Tensor | tf.Tensor[];

let layersBatchNormCall: LayerCall | null = null;
let batchNormPrototype: { call: LayerCall } | null = null;

/**
 * tfjs-layers' BatchNormalization in training mode normalizes with tf.moments + tf.batchNorm and
 * lets autodiff differentiate both (about twice the full-size passes of the closed form). With this
 * switch on (the default once initBackend has run), a 4-D input normalized over its last axis with
 * learnt scale and offset goes through `batchNormTraining` instead: the same outputs, the same
 * moving-average updates (moving = moving - (moving - batch) * (1 - momentum), biased variance as
 * tfjs-layers), the closed-form gradient. Every other case (inference, other ranks or axes, no
 * scale/offset) keeps the layer's own call. Saved models are unchanged: it is the same layer class.
 */
export function setFastBatchNormTraining(on: boolean): void {
  if (batchNormPrototype === null) {
    const proto: unknown = Object.getPrototypeOf(tfl.layers.batchNormalization({}));
    if (
      typeof proto !== "object" ||
      proto === null ||
      !("call" in proto) ||
      typeof proto.call !== "function"
    ) {
      throw new Error("setFastBatchNormTraining: tfjs-layers' BatchNormalization has no call method");
    }
    batchNormPrototype = proto as { call: LayerCall };
    layersBatchNormCall = batchNormPrototype.call;
  }
  const original = layersBatchNormCall;
  if (original === null) return;
  batchNormPrototype.call = on
    ? function fastBatchNormCall(this: BatchNormLayerLike, inputs, kwargs) {
        const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
        const gamma = this.gamma;
        const beta = this.beta;
        if (
          kwargs?.training !== true ||
          input === undefined ||
          input.rank !== 4 ||
          (this.axis !== -1 && this.axis !== 3) ||
          !gamma ||
          !beta
        ) {
          return original.call(this, inputs, kwargs);
        }
        return tf.tidy(() => {
          const { y, mean, variance } = batchNormTraining(
            input as tf.Tensor4D,
            gamma.read() as tf.Tensor1D,
            beta.read() as tf.Tensor1D,
            this.epsilon,
          );
          const decay = 1 - this.momentum;
          for (const [moving, batch] of [
            [this.movingMean, mean],
            [this.movingVariance, variance],
          ] as const) {
            tf.tidy(() => {
              const orig = moving.read();
              moving.write(tf.sub(orig, tf.mul(tf.sub(orig, batch), decay)));
            });
          }
          return y;
        });
      }
    : original;
}
