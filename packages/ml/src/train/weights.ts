import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { tfjsSeed } from "./seed.js";

/** The trainable variables of a model, in a stable order. */
export function trainableVariables(model: tfl.LayersModel | tfl.layers.Layer): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * Re-initializes every kernel from `seed` (He-normal; dense and conv kernels alike) so that two
 * builds with the same seed start from identical weights. Biases and batch-norm parameters keep
 * their deterministic initial values.
 */
export function seedKernels(model: { weights: tfl.LayersModel["weights"] }, seed: number): void {
  model.weights.forEach((w, i) => {
    if (!w.originalName.endsWith("kernel")) return;
    const shape = w.shape.map((d) => d ?? 1);
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const v = tf.tidy(() =>
      tf.truncatedNormal(shape, 0, Math.sqrt(2 / fanIn), "float32", tfjsSeed((seed + i * 7919) % 2147483647)),
    );
    w.write(v);
    v.dispose();
  });
}

/** Exponential moving average of a model's weights (all of them, batch-norm statistics included). */
export class WeightEma {
  private shadow: tf.Variable[];
  constructor(
    private readonly model: tfl.LayersModel,
    readonly decay: number,
  ) {
    this.shadow = model.getWeights().map((w) => tf.tidy(() => tf.variable(w.clone(), false)));
  }
  update(): void {
    const ws = this.model.getWeights();
    tf.tidy(() => {
      ws.forEach((w, i) => {
        const s = this.shadow[i];
        if (!s) return;
        s.assign(tf.add(tf.mul(s, this.decay), tf.mul(w, 1 - this.decay)));
      });
    });
  }
  /** Runs `fn` with the EMA weights swapped in, then restores the live weights. */
  async withEma<T>(fn: () => Promise<T> | T): Promise<T> {
    const live = this.model.getWeights().map((w) => w.clone());
    this.model.setWeights(this.shadow);
    try {
      return await fn();
    } finally {
      this.model.setWeights(live);
      tf.dispose(live);
    }
  }
  get values(): tf.Variable[] {
    return this.shadow;
  }
  setValues(values: tf.Tensor[]): void {
    tf.tidy(() => {
      values.forEach((v, i) => {
        this.shadow[i]?.assign(v);
      });
    });
  }
  /** Copies the EMA weights into the model permanently (for the final export). */
  copyToModel(): void {
    this.model.setWeights(this.shadow);
  }
  dispose(): void {
    tf.dispose(this.shadow);
  }
}
