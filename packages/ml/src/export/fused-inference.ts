/**
 * The classifier compiled for inference on TF.js: every batch norm folded into the convolution
 * before it, each ReLU that follows a convolution fused into it (one FusedConv2D with bias and
 * activation instead of Conv2D + FusedBatchNorm + Relu), and the encoder run as a flat list of
 * kernels with no tfjs-layers bookkeeping. The same fold as the ONNX export (layer-graph.ts).
 *
 * On the wasm backend the batch-norm passes were about 40% of a 64 px scoring batch
 * (docs/benchmarks.md, "Pool scoring throughput"). Outputs equal the layers model in inference mode
 * (training=false) up to float rounding; fused-inference.test.ts checks it on non-trivial
 * batch-norm statistics.
 *
 * Supported layers: those of buildClassifier: InputLayer, Conv2D (+ BatchNormalization, + ReLU),
 * ReLU, Add, MaxPooling2D, GlobalAveragePooling2D, Dropout (identity), Dense (linear). Anything
 * else throws, naming the layer.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { type ClassifierNet, EMBEDDING_LAYER, FEATURES_LAYER, HEADS_LAYER } from "../models/resnet.js";
import { normalizeImages } from "../ssl/pretrain.js";
import {
  cfgString,
  consumers,
  foldConv,
  inboundLayers,
  type LayerConfig,
  needWeight,
  poolGeometry,
  weightsByName,
} from "./layer-graph.js";

const WHO = "fused inference";

type Step =
  | {
      kind: "conv";
      name: string;
      input: string;
      filter: tf.Tensor4D;
      bias: tf.Tensor1D;
      strides: [number, number];
      pad: "same" | "valid";
      relu: boolean;
    }
  | { kind: "add"; name: string; inputs: string[]; relu: boolean }
  | { kind: "relu"; name: string; input: string }
  | {
      kind: "maxpool";
      name: string;
      input: string;
      pool: [number, number];
      strides: [number, number];
      pad: "same" | "valid";
    }
  | { kind: "mean"; name: string; input: string }
  | { kind: "dense"; name: string; input: string; kernel: tf.Tensor2D; bias: tf.Tensor1D };

export interface FusedClassifier {
  /**
   * Images in [0, 1], [N,S,S,1] (what imageBatch gives). Returns the pooled embedding [N,D] (the
   * encoder's features mean-pooled, as `embed`) and the heads' logits [N,K] (dropout off). The
   * caller owns both.
   */
  run(x: tf.Tensor4D): { embedding: tf.Tensor2D; logits: tf.Tensor2D };
  /** Releases the folded weights. */
  dispose(): void;
}

/** The names a step reads. */
function stepInputs(s: Step): string[] {
  return s.kind === "add" ? s.inputs : [s.input];
}

function pair(v: number[]): [number, number] {
  return [v[0] ?? 1, v[1] ?? 1];
}

/** Compiles `net` as it is now; later weight updates need a new compile. */
export function compileFusedClassifier(net: ClassifierNet): FusedClassifier {
  const model: tfl.LayersModel = net.full;
  const steps: Step[] = [];
  const owned: tf.Tensor[] = [];
  /** Which step's output (by name) holds each layer's output. */
  const source = new Map<string, string>();
  /** Convs whose batch norm (and maybe ReLU) is folded into them: emitted at the batch norm. */
  const deferred = new Set<string>();
  /** ReLU layers already fused into the step before them. */
  const fused = new Set<string>();
  let inputName = "";
  const inputOf = (layer: tfl.layers.Layer, i = 0): string => {
    const src = inboundLayers(layer, WHO)[i];
    const name = src ? source.get(src.name) : undefined;
    if (!src || name === undefined)
      throw new Error(`${WHO}: input ${i} of layer ${layer.name} is not available`);
    return name;
  };
  /** The single plain ReLU consuming `layer`, if any (then it can be fused). */
  const reluAfter = (layer: tfl.layers.Layer): tfl.layers.Layer | null => {
    const next = consumers(layer, model);
    const only = next.length === 1 ? next[0] : undefined;
    if (only?.getClassName() !== "ReLU") return null;
    const maxValue = (only.getConfig() as LayerConfig).maxValue;
    return maxValue === null || maxValue === undefined ? only : null;
  };
  const emitConv = (conv: tfl.layers.Layer, bn: tfl.layers.Layer | null, input: string, name: string) => {
    const f = foldConv(conv, bn, WHO);
    const relu = reluAfter(bn ?? conv);
    const filter = tf.tensor4d(f.kernel, f.kernelShape);
    const bias = tf.tensor1d(f.bias);
    owned.push(filter, bias);
    steps.push({
      kind: "conv",
      name,
      input,
      filter,
      bias,
      strides: pair(f.strides),
      pad: f.padding,
      relu: relu !== null,
    });
    if (relu) {
      fused.add(relu.name);
      source.set(relu.name, name);
    }
  };
  try {
    for (const layer of model.layers) {
      const cls = layer.getClassName();
      const cfg = layer.getConfig() as LayerConfig;
      switch (cls) {
        case "InputLayer":
          inputName = layer.name;
          source.set(layer.name, layer.name);
          break;
        case "Conv2D": {
          const next = consumers(layer, model);
          if (next.length === 1 && next[0]?.getClassName() === "BatchNormalization") {
            deferred.add(layer.name);
            source.set(layer.name, inputOf(layer));
          } else {
            emitConv(layer, null, inputOf(layer), layer.name);
            source.set(layer.name, layer.name);
          }
          break;
        }
        case "BatchNormalization": {
          const src = inboundLayers(layer, WHO)[0];
          if (!src || !deferred.has(src.name))
            throw new Error(
              `${WHO}: batchnorm ${layer.name} does not follow a conv; only folded batchnorm is supported`,
            );
          emitConv(src, layer, inputOf(layer), layer.name);
          source.set(layer.name, layer.name);
          break;
        }
        case "ReLU": {
          if (fused.has(layer.name)) break;
          const maxValue = cfg.maxValue;
          if (maxValue !== null && maxValue !== undefined)
            throw new Error(`${WHO}: relu ${layer.name} is capped`);
          steps.push({ kind: "relu", name: layer.name, input: inputOf(layer) });
          source.set(layer.name, layer.name);
          break;
        }
        case "Add": {
          const n = inboundLayers(layer, WHO).length;
          const relu = reluAfter(layer);
          steps.push({
            kind: "add",
            name: layer.name,
            inputs: Array.from({ length: n }, (_, i) => inputOf(layer, i)),
            relu: relu !== null,
          });
          source.set(layer.name, layer.name);
          if (relu) {
            fused.add(relu.name);
            source.set(relu.name, layer.name);
          }
          break;
        }
        case "MaxPooling2D": {
          const { pool, strides, padding } = poolGeometry(cfg, layer.name, WHO);
          steps.push({
            kind: "maxpool",
            name: layer.name,
            input: inputOf(layer),
            pool: pair(pool),
            strides: pair(strides),
            pad: padding,
          });
          source.set(layer.name, layer.name);
          break;
        }
        case "GlobalAveragePooling2D":
          steps.push({ kind: "mean", name: layer.name, input: inputOf(layer) });
          source.set(layer.name, layer.name);
          break;
        case "Dropout":
          source.set(layer.name, inputOf(layer));
          break;
        case "Dense": {
          const act = cfgString(cfg, "activation");
          if (act !== undefined && act !== "linear")
            throw new Error(`${WHO}: dense ${layer.name} has activation ${act}`);
          const w = weightsByName(layer);
          const kernelT = w.get("kernel");
          if (kernelT?.rank !== 2) throw new Error(`${WHO}: dense ${layer.name} has no 2-D kernel`);
          const [din = 0, dout = 0] = kernelT.shape;
          const kernel = tf.tensor2d(Float32Array.from(kernelT.dataSync() as Float32Array), [din, dout]);
          const bias = tf.tensor1d(
            w.has("bias") ? needWeight(w, "bias", layer.name, WHO) : new Float32Array(dout),
          );
          owned.push(kernel, bias);
          steps.push({ kind: "dense", name: layer.name, input: inputOf(layer), kernel, bias });
          source.set(layer.name, layer.name);
          break;
        }
        default:
          throw new Error(`${WHO}: layer ${layer.name} (${cls}) is not supported`);
      }
    }
  } catch (err) {
    tf.dispose(owned);
    throw err;
  }
  const embName = source.get(EMBEDDING_LAYER);
  const logitsName = source.get(HEADS_LAYER);
  if (embName === undefined || logitsName === undefined || !source.has(FEATURES_LAYER)) {
    tf.dispose(owned);
    throw new Error(
      `${WHO}: the classifier has no ${FEATURES_LAYER}, ${EMBEDDING_LAYER} or ${HEADS_LAYER} layer`,
    );
  }
  // Each intermediate is released after its last reader, so a batch holds a few maps, not all.
  const lastUse = new Map<string, number>();
  steps.forEach((s, i) => {
    for (const name of stepInputs(s)) lastUse.set(name, i);
  });
  const keep = new Set([embName, logitsName]);
  const norm = net.config.normalization;
  return {
    run(x) {
      return tf.tidy(() => {
        const values = new Map<string, tf.Tensor>();
        values.set(inputName, normalizeImages(x, norm));
        const get = (name: string): tf.Tensor => {
          const v = values.get(name);
          if (!v) throw new Error(`${WHO}: ${name} was not computed`);
          return v;
        };
        steps.forEach((s, i) => {
          let y: tf.Tensor;
          switch (s.kind) {
            case "conv":
              y = tf.fused.conv2d({
                x: get(s.input) as tf.Tensor4D,
                filter: s.filter,
                strides: s.strides,
                pad: s.pad,
                bias: s.bias,
                activation: s.relu ? "relu" : "linear",
              });
              break;
            case "add": {
              let acc = get(s.inputs[0] ?? "");
              for (const name of s.inputs.slice(1)) acc = tf.add(acc, get(name));
              y = s.relu ? tf.relu(acc) : acc;
              break;
            }
            case "relu":
              y = tf.relu(get(s.input));
              break;
            case "maxpool":
              y = tf.maxPool(get(s.input) as tf.Tensor4D, s.pool, s.strides, s.pad);
              break;
            case "mean":
              y = tf.mean(get(s.input), [1, 2]);
              break;
            case "dense":
              y = tf.add(tf.matMul(get(s.input) as tf.Tensor2D, s.kernel), s.bias);
              break;
          }
          values.set(s.name, y);
          for (const name of stepInputs(s)) {
            if (lastUse.get(name) !== i || keep.has(name)) continue;
            values.get(name)?.dispose();
            values.delete(name);
          }
        });
        return { embedding: get(embName) as tf.Tensor2D, logits: get(logitsName) as tf.Tensor2D };
      });
    },
    dispose() {
      tf.dispose(owned);
    },
  };
}
