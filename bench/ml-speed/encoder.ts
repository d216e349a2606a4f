/**
 * The benchmark network: a half-width ResNet-18-style grayscale encoder built with tfjs-layers
 * (the same network as torch_bench.py), and its training step on one fixed batch; shared by
 * bench.ts, self-prof.ts and ab-step.ts.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { AdamW } from "@xray/ml/train/optimizer";
import { trainableVariables } from "@xray/ml/train/weights";

/** Basic block: conv3x3-BN-ReLU-conv3x3-BN (+ 1x1/stride projection when the shape changes) + ReLU. */
function basicBlock(x: tfl.SymbolicTensor, filters: number, stride: number): tfl.SymbolicTensor {
  const conv = (t: tfl.SymbolicTensor, k: number, s: number) =>
    tfl.layers
      .conv2d({
        filters,
        kernelSize: k,
        strides: s,
        padding: "same",
        useBias: false,
        kernelInitializer: "heNormal",
      })
      .apply(t) as tfl.SymbolicTensor;
  const bn = (t: tfl.SymbolicTensor) =>
    tfl.layers.batchNormalization({ momentum: 0.9 }).apply(t) as tfl.SymbolicTensor;
  const relu = (t: tfl.SymbolicTensor) => tfl.layers.reLU().apply(t) as tfl.SymbolicTensor;
  let y = relu(bn(conv(x, 3, stride)));
  y = bn(conv(y, 3, 1));
  const inChannels = x.shape[3];
  const shortcut = stride !== 1 || inChannels !== filters ? bn(conv(x, 1, stride)) : x;
  return relu(tfl.layers.add().apply([y, shortcut]) as tfl.SymbolicTensor);
}

/** Half-width ResNet-18: 7x7/2 stem + 3x3/2 max pool, 4 stages x 2 basic blocks, GAP, dense head. */
export function buildEncoder(size: number, stageWidths: number[]): tfl.LayersModel {
  const input = tfl.input({ shape: [size, size, 1] });
  const stemWidth = stageWidths[0] ?? 32;
  let x = tfl.layers
    .conv2d({ filters: stemWidth, kernelSize: 7, strides: 2, padding: "same", useBias: false })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ momentum: 0.9 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "same" }).apply(x) as tfl.SymbolicTensor;
  stageWidths.forEach((w, stage) => {
    x = basicBlock(x, w, stage === 0 ? 1 : 2);
    x = basicBlock(x, w, 1);
  });
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2 }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

/** Which optimizer the benchmark step uses: env OPT, default the product's AdamW. */
export type BenchOptimizer = "adamw" | "tfadam";

export function benchOptimizer(): BenchOptimizer {
  const v = process.env.OPT ?? "adamw";
  if (v !== "adamw" && v !== "tfadam") throw new Error(`OPT must be adamw or tfadam, got ${v}`);
  return v;
}

/**
 * One training step (forward + backward + optimizer) of `model` on a fixed random batch of
 * `batch` size x size images with alternating 2-class labels; returns the loss. The optimizer:
 * "adamw" the product's AdamW (packages/ml/src/train/optimizer.ts: weight decay 5e-4, the
 * FixMatch default; one fused kernel per variable on wasm unless setFusedAdamW(false)), "tfadam"
 * tf.train.adam (what torch_bench.py's torch.optim.Adam mirrors). lr 1e-3 either way. `dispose`
 * frees the batch and the optimizer state.
 */
export function fixedBatchTrainer(
  model: tfl.LayersModel,
  size: number,
  batch: number,
  optimizer: BenchOptimizer = benchOptimizer(),
): { step: () => number; xs: tf.Tensor; dispose: () => void } {
  const xs = tf.randomNormal([batch, size, size, 1]);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batch }, (_, i) => i % 2),
      "int32",
    ),
    2,
  );
  const loss = (): tf.Scalar => {
    const logits = model.apply(xs, { training: true });
    if (!(logits instanceof tf.Tensor)) throw new Error("one output expected");
    return tf.losses.softmaxCrossEntropy(labels, logits);
  };
  const disposeBatch = () => {
    xs.dispose();
    labels.dispose();
  };
  if (optimizer === "adamw") {
    const vars = trainableVariables(model);
    const opt = new AdamW(vars, { weightDecay: 5e-4 });
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(loss, vars);
        opt.apply(
          vars.map((v) => grads[v.name]),
          1e-3,
        );
        return value.dataSync()[0] ?? Number.NaN;
      });
    return {
      step,
      xs,
      dispose: () => {
        disposeBatch();
        opt.dispose();
      },
    };
  }
  const adam = tf.train.adam(1e-3);
  const step = () =>
    tf.tidy(() => {
      const cost = adam.minimize(loss, true);
      return cost?.dataSync()[0] ?? Number.NaN;
    });
  return {
    step,
    xs,
    dispose: () => {
      disposeBatch();
      adam.dispose();
    },
  };
}
