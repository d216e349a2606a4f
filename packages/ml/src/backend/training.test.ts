import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { relativeError, seededValues } from "./conv-reference";
import { initBackend } from "./index";

beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
});

/** A small ResNet-flavoured net touching every layer kind the encoder uses. */
function buildNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 7, 1] });
  let x = tfl.layers
    .conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: "same", useBias: false })
    .apply(input);
  x = tfl.layers.batchNormalization().apply(x);
  x = tfl.layers.activation({ activation: "relu" }).apply(x);
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: "same" }).apply(x);
  let y = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: "same", useBias: false }).apply(x);
  y = tfl.layers.batchNormalization().apply(y);
  const sum = tfl.layers.add().apply([y, x] as tfl.SymbolicTensor[]);
  let z = tfl.layers.activation({ activation: "relu" }).apply(sum);
  const down = tfl.layers.conv2d({ filters: 16, kernelSize: 1, strides: 2, padding: "valid" }).apply(z);
  z = tfl.layers
    .conv2d({ filters: 16, kernelSize: 5, strides: 2, padding: "same", activation: "relu" })
    .apply(z);
  z = tfl.layers.concatenate().apply([z, down] as tfl.SymbolicTensor[]);
  z = tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: "same" }).apply(z);
  z = tfl.layers.globalAveragePooling2d({}).apply(z);
  z = tfl.layers.dropout({ rate: 0 }).apply(z);
  const out = tfl.layers.dense({ units: 3 }).apply(z);
  return tfl.model({ inputs: input, outputs: out as tfl.SymbolicTensor });
}

interface Run {
  losses: number[];
  firstGrads: Float32Array[];
  finalWeights: Float32Array[];
  tensorGrowth: number;
}

/** Plain SGD on a fixed batch: softmax + sigmoid cross-entropy, from fixed initial weights. */
async function train(backend: "wasm" | "cpu", init: Float32Array[], steps: number): Promise<Run> {
  await tf.setBackend(backend);
  const model = buildNet();
  model.setWeights(model.getWeights().map((w, i) => tf.tensor(init[i] ?? new Float32Array(w.size), w.shape)));
  const xs = tf.tensor4d(Float32Array.from(seededValues(4 * 9 * 7, 5)), [4, 9, 7, 1]);
  const labels = tf.tensor2d(
    [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
      [1, 0, 0],
    ],
    [4, 3],
  );
  const lossFn = () =>
    tf.tidy(() => {
      const logits = model.apply(xs, { training: true });
      if (!(logits instanceof tf.Tensor)) throw new Error("one output expected");
      const ce = tf.losses.softmaxCrossEntropy(labels, logits);
      const bce = tf.losses.sigmoidCrossEntropy(labels, logits);
      return tf.add(ce, bce) as tf.Scalar;
    });
  const trainable = model.trainableWeights
    .map((w) => tf.engine().registeredVariables[w.name])
    .filter((v): v is tf.Variable => v !== undefined);
  const optimizer = tf.train.sgd(0.1);
  const losses: number[] = [];
  let firstGrads: Float32Array[] = [];
  let before = 0;
  for (let step = 0; step < steps; step++) {
    if (step === 1) before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(lossFn, trainable);
    if (step === 0) firstGrads = trainable.map((v) => Float32Array.from(grads[v.name]?.dataSync() ?? []));
    losses.push((await value.data())[0] ?? Number.NaN);
    optimizer.applyGradients(grads);
    value.dispose();
    tf.dispose(grads);
  }
  const tensorGrowth = tf.memory().numTensors - before;
  const finalWeights = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
  tf.dispose([xs, labels]);
  optimizer.dispose();
  model.dispose();
  return { losses, firstGrads, finalWeights, tensorGrowth };
}

describe("training a small conv net on wasm", () => {
  it("matches the cpu backend's gradients and SGD trajectory, without leaking tensors", async () => {
    await tf.setBackend("cpu");
    const probe = buildNet();
    const init = probe
      .getWeights()
      .map((w, i) =>
        Float32Array.from(seededValues(w.size, 100 + i), (v) =>
          w.shape.length === 1 ? 1 + 0.1 * v : 0.3 * v,
        ),
      );
    probe.dispose();
    const steps = 4;
    const cpu = await train("cpu", init, steps);
    const wasm = await train("wasm", init, steps);
    expect(wasm.firstGrads.length).toBeGreaterThan(10);
    wasm.firstGrads.forEach((g, i) => {
      expect(g.length).toBeGreaterThan(0);
      expect(relativeError(g, cpu.firstGrads[i] ?? new Float32Array())).toBeLessThan(1e-4);
    });
    expect(relativeError(wasm.losses, cpu.losses)).toBeLessThan(1e-4);
    wasm.finalWeights.forEach((w, i) => {
      expect(relativeError(w, cpu.finalWeights[i] ?? new Float32Array())).toBeLessThan(1e-3);
    });
    // It learned something, and each step leaves no tensors behind.
    expect(wasm.losses[steps - 1] ?? Number.NaN).toBeLessThan(wasm.losses[0] ?? Number.NaN);
    expect(wasm.tensorGrowth).toBe(0);
    await tf.setBackend("wasm");
  });
});
