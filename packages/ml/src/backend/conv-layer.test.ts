import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { relativeError, seededValues } from "./conv-reference";
import { initBackend, setPlainConvForLinearLayers } from "./index";

beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
});
afterAll(() => setPlainConvForLinearLayers(true));

/** Stem conv (1 channel, 5x5/2, no bias) -> conv (3x3, bias, relu) -> mean: loss and gradients. */
function run(plain: boolean): {
  loss: number;
  grads: Float32Array[];
  output: Float32Array;
} {
  setPlainConvForLinearLayers(plain);
  const input = tfl.input({ shape: [9, 7, 1] });
  const stem = tfl.layers.conv2d({ filters: 4, kernelSize: 5, strides: 2, padding: "same", useBias: false });
  const second = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: "valid", activation: "relu" });
  const model = tfl.model({
    inputs: input,
    outputs: second.apply(stem.apply(input)) as tfl.SymbolicTensor,
  });
  model.setWeights(
    model.getWeights().map((w, i) => tf.tensor(Float32Array.from(seededValues(w.size, 3 + i)), w.shape)),
  );
  const x = tf.tensor4d(Float32Array.from(seededValues(2 * 9 * 7, 1)), [2, 9, 7, 1]);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const before = tf.memory().numTensors;
  const { value, grads } = tf.tidy(() => {
    const r = tf.variableGrads(
      () => tf.mean(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
      vars,
    );
    return { value: r.value, grads: r.grads };
  });
  const outT = model.apply(x) as tf.Tensor;
  const output = outT.dataSync() as Float32Array;
  outT.dispose();
  const result = {
    loss: value.dataSync()[0] ?? Number.NaN,
    grads: vars.map((v) => grads[v.name]?.dataSync() as Float32Array),
    output,
  };
  tf.dispose([value, ...Object.values(grads)]);
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
  model.dispose();
  return result;
}

describe("Conv2D layers without bias or activation run tf.conv2d", () => {
  it("gives the fused path's outputs and gradients", () => {
    const fused = run(false);
    const plain = run(true);
    expect(plain.grads.length).toBe(3);
    expect(Math.abs(plain.loss - fused.loss)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fused.loss)));
    expect(relativeError(plain.output, fused.output)).toBeLessThan(1e-6);
    plain.grads.forEach((g, i) => {
      expect(relativeError(g, fused.grads[i] ?? new Float32Array())).toBeLessThan(1e-5);
      expect(Math.max(...Array.from(g, Math.abs))).toBeGreaterThan(1e-4);
    });
  });

  it("does not compute the gradient of the image for the first convolution", async () => {
    const count = async (plain: boolean) => {
      setPlainConvForLinearLayers(plain);
      const input = tfl.input({ shape: [8, 8, 1] });
      const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", useBias: false });
      const model = tfl.model({ inputs: input, outputs: conv.apply(input) as tfl.SymbolicTensor });
      const x = tf.ones([1, 8, 8, 1]);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const info = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
          vars,
        );
        tf.dispose([value, ...Object.values(grads)]);
      });
      x.dispose();
      model.dispose();
      return info.kernels.filter((k) => k.name === "Conv2DBackpropInput").length;
    };
    expect(await count(false)).toBeGreaterThan(0); // tf.fused.conv2d's customGrad computes it
    expect(await count(true)).toBe(0);
  });
});
