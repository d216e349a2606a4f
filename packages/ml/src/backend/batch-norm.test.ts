import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, setFastBatchNormTraining } from "./index";

beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
});

/** Deterministic values in [-1, 1) (no Math.random in tests). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

interface Run {
  y: Float32Array;
  grads: Float32Array[];
  moving: Float32Array[];
}

/** Two training calls of a conv + BatchNormalization model, then its gradients; one switch setting. */
function run(fast: boolean): Run {
  setFastBatchNormTraining(fast);
  try {
    return tf.tidy(() => {
      const input = tfl.input({ shape: [5, 7, 3] });
      const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", useBias: false });
      const bn = tfl.layers.batchNormalization({ momentum: 0.8, epsilon: 1e-3 });
      const model = tfl.model({
        inputs: input,
        outputs: bn.apply(conv.apply(input)) as tfl.SymbolicTensor,
      });
      model.setWeights(model.getWeights().map((w, i) => tf.tensor(values(w.size, 10 + i), w.shape)));
      const x = tf.tensor4d(values(2 * 5 * 7 * 3, 3), [2, 5, 7, 3]);
      const r = tf.tensor4d(values(2 * 5 * 7 * 4, 4), [2, 5, 7, 4]);
      const y = model.apply(x, { training: true }) as tf.Tensor;
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(
        () => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, r)) as tf.Scalar,
        vars,
      );
      return {
        y: y.dataSync() as Float32Array,
        grads: vars.map((v) => grads[v.name]?.dataSync() as Float32Array),
        moving: [bn.getWeights()[2], bn.getWeights()[3]].map((t) => t?.dataSync() as Float32Array),
      };
    });
  } finally {
    setFastBatchNormTraining(true);
  }
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] ?? 0) - (b[i] ?? 0)) / Math.max(1, Math.abs(b[i] ?? 0));
    m = Math.max(m, d);
  }
  return m;
}

describe("BatchNormalization layer with the closed-form training gradient", () => {
  it("gives the layer's outputs, gradients and moving averages", () => {
    const ref = run(false);
    const fast = run(true);
    expect(maxRel(fast.y, ref.y)).toBeLessThan(1e-5);
    expect(fast.grads.length).toBe(3); // conv kernel, gamma, beta
    fast.grads.forEach((g, i) => {
      const r = ref.grads[i] ?? new Float32Array();
      expect(maxRel(g, r)).toBeLessThan(1e-4);
      expect(Math.max(...Array.from(r, Math.abs))).toBeGreaterThan(1e-3);
    });
    fast.moving.forEach((m, i) => {
      expect(maxRel(m, ref.moving[i] ?? new Float32Array())).toBeLessThan(1e-5);
    });
    // The moving statistics really moved (from 0 and 1, two updates with momentum 0.8).
    expect(Math.max(...Array.from(fast.moving[0] ?? [], Math.abs))).toBeGreaterThan(1e-2);
  });

  it("leaves inference alone and leaks no tensors in training", () => {
    const input = tfl.input({ shape: [4, 4, 2] });
    const bn = tfl.layers.batchNormalization({});
    const model = tfl.model({ inputs: input, outputs: bn.apply(input) as tfl.SymbolicTensor });
    const x = tf.tensor4d(values(32, 9), [1, 4, 4, 2]);
    model.apply(x, { training: true }); // builds the layer
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(model.apply(x, { training: true }) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    const inf = model.apply(x, { training: false }) as tf.Tensor;
    const moving = bn.getWeights();
    const expected = tf.batchNorm(
      x,
      moving[2] as tf.Tensor1D,
      moving[3] as tf.Tensor1D,
      moving[1] as tf.Tensor1D,
      moving[0] as tf.Tensor1D,
      1e-3,
    );
    expect(maxRel(inf.dataSync(), expected.dataSync())).toBeLessThan(1e-6);
    tf.dispose([x, inf, expected]);
  });
});
