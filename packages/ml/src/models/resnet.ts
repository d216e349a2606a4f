import type * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import {
  type ClassifierConfig,
  type ClassifierConfigInput,
  classifierConfigSchema,
  type EncoderConfig,
  type EncoderConfigInput,
  embeddingSize,
  encoderChannels,
  encoderConfigSchema,
  headKeys,
  type ProjectionConfig,
  projectionConfigSchema,
  resolvedStem,
} from "./config.js";

/** Name of the layer whose output is the last conv block's feature map (Grad-CAM target). */
export const FEATURES_LAYER = "features";
export const EMBEDDING_LAYER = "embedding";
export const HEADS_LAYER = "heads";

function convBn(
  x: tfl.SymbolicTensor,
  filters: number,
  kernel: number,
  stride: number,
  name: string,
  relu: boolean,
  reluName?: string,
): tfl.SymbolicTensor {
  let y = tfl.layers
    .conv2d({
      filters,
      kernelSize: kernel,
      strides: stride,
      padding: "same",
      useBias: false,
      kernelInitializer: "heNormal",
      name: `${name}_conv`,
    })
    .apply(x) as tfl.SymbolicTensor;
  y = tfl.layers
    .batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `${name}_bn` })
    .apply(y) as tfl.SymbolicTensor;
  if (relu) y = tfl.layers.reLU({ name: reluName ?? `${name}_relu` }).apply(y) as tfl.SymbolicTensor;
  return y;
}

/** Builds the encoder graph on `input` and returns the feature map (layer named FEATURES_LAYER). */
function encoderGraph(input: tfl.SymbolicTensor, cfg: EncoderConfig): tfl.SymbolicTensor {
  const channels = encoderChannels(cfg);
  const stem = resolvedStem(cfg);
  let x =
    stem === "small"
      ? convBn(input, channels[0] ?? cfg.width, 3, 1, "stem", true)
      : convBn(input, channels[0] ?? cfg.width, 7, 2, "stem", true);
  if (stem === "large") {
    x = tfl.layers
      .maxPooling2d({ poolSize: 3, strides: 2, padding: "same", name: "stem_pool" })
      .apply(x) as tfl.SymbolicTensor;
  }
  let inCh = channels[0] ?? cfg.width;
  const lastStage = cfg.blocks.length - 1;
  cfg.blocks.forEach((nBlocks, s) => {
    const ch = channels[s] ?? cfg.width;
    for (let b = 0; b < nBlocks; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      const name = `s${s}b${b}`;
      let y = convBn(x, ch, 3, stride, `${name}_a`, true);
      y = convBn(y, ch, 3, 1, `${name}_b`, false);
      const shortcut = stride !== 1 || inCh !== ch ? convBn(x, ch, 1, stride, `${name}_sc`, false) : x;
      const sum = tfl.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tfl.SymbolicTensor;
      const isLast = s === lastStage && b === nBlocks - 1;
      x = tfl.layers.reLU({ name: isLast ? FEATURES_LAYER : `${name}_out` }).apply(sum) as tfl.SymbolicTensor;
      inCh = ch;
    }
  });
  return x;
}

/** A grey-scale encoder: [N,H,W,1] -> feature map [N,h,w,C]. */
export function buildEncoder(config: EncoderConfigInput): tfl.LayersModel {
  const cfg = encoderConfigSchema.parse(config);
  const input = tfl.input({ shape: [cfg.inputSize, cfg.inputSize, 1], name: "image" });
  return tfl.model({ inputs: input, outputs: encoderGraph(input, cfg), name: "encoder" });
}

/** SimCLR projection MLP: embedding [N,C] -> [N,out]. */
export function buildProjectionHead(
  inputDim: number,
  config: Partial<ProjectionConfig> = {},
): tfl.LayersModel {
  const cfg = projectionConfigSchema.parse(config);
  const input = tfl.input({ shape: [inputDim], name: "proj_in" });
  let x = tfl.layers
    .dense({ units: cfg.hidden, useBias: false, name: "proj_fc1" })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: "proj_bn1" }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: "proj_relu1" }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: cfg.out, name: "proj_fc2" }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x, name: "projection" });
}

/**
 * A classifier network. `full` is the exportable graph image -> logits (one sigmoid logit per head,
 * gate first). `encoder` shares its layers (image -> feature map); `heads` is the final dense layer
 * (embedding -> logits). Training code runs encoder -> mean-pool -> seeded dropout -> heads itself so
 * that dropout is reproducible and usable at inference (MC dropout).
 */
export interface ClassifierNet {
  config: ClassifierConfig;
  full: tfl.LayersModel;
  encoder: tfl.LayersModel;
  heads: tfl.layers.Layer;
  headKeys: string[];
}

export function buildClassifier(config: ClassifierConfigInput): ClassifierNet {
  const cfg = classifierConfigSchema.parse(config);
  const input = tfl.input({ shape: [cfg.encoder.inputSize, cfg.encoder.inputSize, 1], name: "image" });
  const features = encoderGraph(input, cfg.encoder);
  const pooled = tfl.layers
    .globalAveragePooling2d({ name: EMBEDDING_LAYER })
    .apply(features) as tfl.SymbolicTensor;
  const dropped = tfl.layers
    .dropout({ rate: cfg.dropout, name: "head_dropout" })
    .apply(pooled) as tfl.SymbolicTensor;
  const keys = headKeys(cfg.schema);
  const headsLayer = tfl.layers.dense({ units: keys.length, name: HEADS_LAYER });
  const logits = headsLayer.apply(dropped) as tfl.SymbolicTensor;
  const full = tfl.model({ inputs: input, outputs: logits, name: "classifier" });
  const encoder = tfl.model({ inputs: input, outputs: features, name: "encoder" });
  return { config: cfg, full, encoder, heads: headsLayer, headKeys: keys };
}

/** Re-derives the parts of a ClassifierNet from a loaded `full` graph. */
export function classifierFromFull(full: tfl.LayersModel, config: ClassifierConfig): ClassifierNet {
  const features = full.getLayer(FEATURES_LAYER).output;
  if (Array.isArray(features)) throw new Error("features layer has several outputs");
  const encoder = tfl.model({ inputs: full.inputs, outputs: features, name: "encoder" });
  return { config, full, encoder, heads: full.getLayer(HEADS_LAYER), headKeys: headKeys(config.schema) };
}

export function classifierEmbeddingSize(net: ClassifierNet): number {
  return embeddingSize(net.config.encoder);
}

/** Copies encoder weights (same encoder config) from one model into another. */
export function copyEncoderWeights(from: tfl.LayersModel, to: tfl.LayersModel): void {
  const src = from.getWeights();
  const dstW = to.getWeights();
  if (src.length !== dstW.length)
    throw new Error(`encoder weight count differs: ${src.length} vs ${dstW.length}`);
  src.forEach((w, i) => {
    const d = dstW[i];
    if (!d || d.shape.join(",") !== w.shape.join(",")) throw new Error(`encoder weight ${i} shape differs`);
  });
  to.setWeights(src);
}

export type Tensor4D = tf.Tensor4D;

/**
 * SimSiam projector: embedding [N,C] -> [N,out] as fc-BN-ReLU-fc-BN; the output batch norm has no
 * learnt scale or shift (as in the paper), which keeps the projections from collapsing to a
 * constant. tf.js's batch norm fails in training mode with center/scale off, so that layer keeps
 * them at 1 and 0 by being non-trainable (its batch statistics are still used and tracked).
 */
export function buildSimSiamProjector(
  inputDim: number,
  config: Partial<ProjectionConfig> = {},
): tfl.LayersModel {
  const cfg = projectionConfigSchema.parse(config);
  const input = tfl.input({ shape: [inputDim], name: "ssp_in" });
  let x = tfl.layers
    .dense({ units: cfg.hidden, useBias: false, name: "ssp_fc1" })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: "ssp_bn1" }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: "ssp_relu1" }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: cfg.out, useBias: false, name: "ssp_fc2" }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ trainable: false, name: "ssp_bn2" }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x, name: "projection" });
}

/** SimSiam predictor: a bottleneck MLP [N,dim] -> [N,hidden] -> [N,dim] (fc-BN-ReLU-fc). */
export function buildPredictorHead(dim: number, hidden: number): tfl.LayersModel {
  const input = tfl.input({ shape: [dim], name: "pred_in" });
  let x = tfl.layers
    .dense({ units: hidden, useBias: false, name: "pred_fc1" })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: "pred_bn1" }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: "pred_relu1" }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: dim, name: "pred_fc2" }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x, name: "predictor" });
}
