/**
 * Reading a TF.js layers graph for the two compilers of a trained classifier: the ONNX export
 * (onnx.ts) and the fused TF.js inference plan (fused-inference.ts). `foldGraph` walks the graph
 * once into a flat list of inference ops (FoldedOp) that both translate: each batch norm that
 * directly follows a convolution folded into that convolution's kernel and bias (`foldConv`), each
 * plain ReLU after a convolution or an Add marked on it, dropout dropped. Errors name the compiler
 * (`who`) and the layer.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";

type LayerConfig = Record<string, unknown>;

function cfgNumbers(cfg: LayerConfig, key: string, rank: number, layer: string, who: string): number[] {
  const v = cfg[key];
  if (typeof v === "number") return Array.from({ length: rank }, () => v);
  if (Array.isArray(v) && v.length === rank && v.every((x) => typeof x === "number")) return v as number[];
  throw new Error(`${who}: layer ${layer}: cannot read ${key} (${JSON.stringify(v)})`);
}

function cfgString(cfg: LayerConfig, key: string): string | undefined {
  const v = cfg[key];
  return typeof v === "string" ? v : undefined;
}

/** TF "same" padding: the extra pixel (if any) goes after, as in TF. Returns ONNX pads [t,l,b,r]. */
export function samePads(
  inSize: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
): number[] {
  const before: number[] = [];
  const after: number[] = [];
  inSize.forEach((n, i) => {
    const k = kernel[i] ?? 1;
    const s = strides[i] ?? 1;
    const out = Math.ceil(n / s);
    const total = Math.max((out - 1) * s + k - n, 0);
    before.push(Math.floor(total / 2));
    after.push(total - Math.floor(total / 2));
  });
  return [...before, ...after];
}

/** Pool size, strides (default: the pool size) and padding of a MaxPooling2D layer's config. */
function poolGeometry(
  cfg: LayerConfig,
  layer: string,
  who: string,
): { pool: number[]; strides: number[]; padding: "same" | "valid" } {
  const pool = cfgNumbers(cfg, "poolSize", 2, layer, who);
  const strides =
    cfg.strides === null || cfg.strides === undefined ? pool : cfgNumbers(cfg, "strides", 2, layer, who);
  return { pool, strides, padding: cfgString(cfg, "padding") === "same" ? "same" : "valid" };
}

function spatialInputSize(layer: tfl.layers.Layer, who: string): number[] {
  const node = layer.inboundNodes[0];
  const shapes = node?.inputShapes;
  const shape = Array.isArray(shapes) && Array.isArray(shapes[0]) ? shapes[0] : shapes;
  if (!Array.isArray(shape) || shape.length !== 4)
    throw new Error(`${who}: layer ${layer.name}: expected one 4-D input, got ${JSON.stringify(shape)}`);
  const [, h, w] = shape as (number | null)[];
  if (typeof h !== "number" || typeof w !== "number")
    throw new Error(`${who}: layer ${layer.name}: spatial size must be static`);
  return [h, w];
}

function weightsByName(layer: tfl.layers.Layer): Map<string, tf.Tensor> {
  const values = layer.getWeights();
  const out = new Map<string, tf.Tensor>();
  layer.weights.forEach((w, i) => {
    const v = values[i];
    if (!v) return;
    const short = w.originalName.split("/").pop() ?? w.originalName;
    out.set(short, v);
  });
  return out;
}

function needWeight(map: Map<string, tf.Tensor>, key: string, layer: string, who: string): Float32Array {
  const t = map.get(key);
  if (!t)
    throw new Error(`${who}: layer ${layer} has no weight "${key}" (has ${[...map.keys()].join(", ")})`);
  return t.dataSync() as Float32Array;
}

function inboundLayers(layer: tfl.layers.Layer, who: string): tfl.layers.Layer[] {
  if (layer.inboundNodes.length !== 1)
    throw new Error(
      `${who}: layer ${layer.name} is applied ${layer.inboundNodes.length} times; shared layers are not supported`,
    );
  return layer.inboundNodes[0]?.inboundLayers ?? [];
}

function consumers(layer: tfl.layers.Layer, model: tfl.LayersModel): tfl.layers.Layer[] {
  return model.layers.filter((l) => l.inboundNodes.some((n) => n.inboundLayers.includes(layer)));
}

/** A convolution with the batch norm after it (if any) folded in: kernel [kh,kw,cin,cout] (TF layout). */
export interface FoldedConv {
  kernel: Float32Array;
  kernelShape: [number, number, number, number];
  bias: Float32Array;
  kernelSize: number[];
  strides: number[];
  padding: "same" | "valid";
}

/**
 * Folds `bn` (inference mode: moving statistics) into `conv`:
 *   W' = W * gamma / sqrt(var + eps),  b' = (b - mean) * gamma / sqrt(var + eps) + beta.
 * Only linear, channels-last, undilated convolutions; the batch norm must normalize the last axis.
 */
function foldConv(conv: tfl.layers.Layer, bn: tfl.layers.Layer | null, who: string): FoldedConv {
  const cfg = conv.getConfig() as LayerConfig;
  const act = cfgString(cfg, "activation");
  if (act !== undefined && act !== "linear")
    throw new Error(`${who}: conv ${conv.name} has activation ${act}; only linear is supported`);
  if (cfgString(cfg, "dataFormat") === "channelsFirst")
    throw new Error(`${who}: conv ${conv.name} is channelsFirst`);
  const kernelSize = cfgNumbers(cfg, "kernelSize", 2, conv.name, who);
  const strides = cfgNumbers(cfg, "strides", 2, conv.name, who);
  const dilation = cfgNumbers(cfg, "dilationRate", 2, conv.name, who);
  if (dilation.some((d) => d !== 1)) throw new Error(`${who}: conv ${conv.name} is dilated`);
  const padding = cfgString(cfg, "padding") === "same" ? "same" : "valid";
  const w = weightsByName(conv);
  const kernelT = w.get("kernel");
  if (kernelT?.rank !== 4) throw new Error(`${who}: conv ${conv.name} has no 4-D kernel`);
  const [kh = 1, kw = 1, cin = 1, cout = 1] = kernelT.shape;
  const kernel = Float32Array.from(kernelT.dataSync() as Float32Array);
  const bias = new Float32Array(cout);
  const convBias = w.get("bias")?.dataSync() as Float32Array | undefined;
  if (convBias) bias.set(convBias);
  if (bn) {
    const bcfg = bn.getConfig() as LayerConfig;
    const eps = typeof bcfg.epsilon === "number" ? bcfg.epsilon : 1e-3;
    const axis = bcfg.axis;
    if (axis !== -1 && axis !== 3)
      throw new Error(`${who}: batchnorm ${bn.name} normalizes axis ${String(axis)}`);
    const bw = weightsByName(bn);
    const gamma = bw.has("gamma") ? needWeight(bw, "gamma", bn.name, who) : new Float32Array(cout).fill(1);
    const beta = bw.has("beta") ? needWeight(bw, "beta", bn.name, who) : new Float32Array(cout);
    const mean = needWeight(bw, "moving_mean", bn.name, who);
    const variance = needWeight(bw, "moving_variance", bn.name, who);
    const scale = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      const s = (gamma[o] ?? 1) / Math.sqrt((variance[o] ?? 1) + eps);
      scale[o] = s;
      bias[o] = ((bias[o] ?? 0) - (mean[o] ?? 0)) * s + (beta[o] ?? 0);
    }
    for (let i = 0; i < kernel.length; i++) kernel[i] = (kernel[i] ?? 0) * (scale[i % cout] ?? 1);
  }
  return { kernel, kernelShape: [kh, kw, cin, cout], bias, kernelSize, strides, padding };
}

/** Kernel [kh,kw,cin,cout] (TF) -> [cout,cin,kh,kw] (ONNX). */
export function hwioToOihw(kernel: Float32Array, shape: readonly number[]): Float32Array {
  const [kh = 1, kw = 1, cin = 1, cout = 1] = shape;
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + y) * kw + x] = kernel[((y * kw + x) * cin + i) * cout + o] ?? 0;
  return out;
}

/**
 * One inference op of a folded classifier. Names: an op's output is named after the last layer it
 * covers (the batch norm of a folded conv, the conv otherwise); inputs name other ops' outputs or
 * the graph's input layer.
 */
export type FoldedOp =
  | {
      kind: "conv";
      name: string;
      input: string;
      conv: FoldedConv;
      /** Spatial [h, w] of the input (for explicit "same" pads). */
      inputSize: number[];
      relu: boolean;
    }
  | { kind: "add"; name: string; inputs: string[]; relu: boolean }
  | { kind: "relu"; name: string; input: string }
  | {
      kind: "maxpool";
      name: string;
      input: string;
      pool: number[];
      strides: number[];
      padding: "same" | "valid";
      inputSize: number[];
    }
  /** Global average pooling over height and width: [N,H,W,C] -> [N,C]. */
  | { kind: "mean"; name: string; input: string }
  /** Linear dense layer: kernel [din, dout]. */
  | {
      kind: "dense";
      name: string;
      input: string;
      kernel: Float32Array;
      kernelShape: [number, number];
      bias: Float32Array;
    };

export interface FoldedGraph {
  /** The name of the graph's input (the image, after normalization). */
  input: string;
  ops: FoldedOp[];
  /** The op output holding a layer's output (by layer name), or undefined for an unknown layer. */
  outputOf(layer: string): string | undefined;
}

/** The names an op reads. */
export function opInputs(op: FoldedOp): string[] {
  return op.kind === "add" ? op.inputs : [op.input];
}

/**
 * Walks `model` in layer order into folded inference ops. Supported layers: InputLayer, Conv2D
 * (linear, channels-last, undilated; + BatchNormalization directly after it, folded; + ReLU fused),
 * BatchNormalization only after a Conv2D, ReLU (uncapped), Add, MaxPooling2D,
 * GlobalAveragePooling2D, Dropout (identity), Dense (linear). Anything else throws, naming the layer.
 */
export function foldGraph(model: tfl.LayersModel, who: string): FoldedGraph {
  const ops: FoldedOp[] = [];
  /** Which op output holds each layer's output. */
  const source = new Map<string, string>();
  /** Convs whose batch norm is folded into them: emitted at the batch norm. */
  const deferred = new Set<string>();
  /** ReLU layers already fused into the op before them. */
  const fused = new Set<string>();
  let input: string | null = null;
  const inputOf = (layer: tfl.layers.Layer, i = 0): string => {
    const src = inboundLayers(layer, who)[i];
    const name = src ? source.get(src.name) : undefined;
    if (!src || name === undefined)
      throw new Error(`${who}: input ${i} of layer ${layer.name} is not available`);
    return name;
  };
  /** The single plain ReLU consuming `layer`, if any (then it is fused into `layer`'s op). */
  const reluAfter = (layer: tfl.layers.Layer): tfl.layers.Layer | null => {
    const next = consumers(layer, model);
    const only = next.length === 1 ? next[0] : undefined;
    if (only?.getClassName() !== "ReLU") return null;
    const maxValue = (only.getConfig() as LayerConfig).maxValue;
    return maxValue === null || maxValue === undefined ? only : null;
  };
  /** Records `layer`'s op under its name, and the ReLU fused into it under the same name. */
  const emit = (op: FoldedOp, layer: tfl.layers.Layer, relu: tfl.layers.Layer | null) => {
    ops.push(op);
    source.set(layer.name, op.name);
    if (relu) {
      fused.add(relu.name);
      source.set(relu.name, op.name);
    }
  };
  const emitConv = (conv: tfl.layers.Layer, bn: tfl.layers.Layer | null, from: string) => {
    const last = bn ?? conv;
    const relu = reluAfter(last);
    const op: FoldedOp = {
      kind: "conv",
      name: last.name,
      input: from,
      conv: foldConv(conv, bn, who),
      inputSize: spatialInputSize(conv, who),
      relu: relu !== null,
    };
    emit(op, last, relu);
  };
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as LayerConfig;
    switch (cls) {
      case "InputLayer":
        input = layer.name;
        source.set(layer.name, layer.name);
        break;
      case "Conv2D": {
        const next = consumers(layer, model);
        if (next.length === 1 && next[0]?.getClassName() === "BatchNormalization") {
          deferred.add(layer.name);
          source.set(layer.name, inputOf(layer));
        } else emitConv(layer, null, inputOf(layer));
        break;
      }
      case "BatchNormalization": {
        const src = inboundLayers(layer, who)[0];
        if (!src || !deferred.has(src.name))
          throw new Error(
            `${who}: batchnorm ${layer.name} does not follow a conv; only folded batchnorm is supported`,
          );
        emitConv(src, layer, inputOf(layer));
        break;
      }
      case "ReLU": {
        if (fused.has(layer.name)) break;
        const maxValue = cfg.maxValue;
        if (maxValue !== null && maxValue !== undefined)
          throw new Error(`${who}: relu ${layer.name} is capped`);
        emit({ kind: "relu", name: layer.name, input: inputOf(layer) }, layer, null);
        break;
      }
      case "Add": {
        const n = inboundLayers(layer, who).length;
        const relu = reluAfter(layer);
        const inputs = Array.from({ length: n }, (_, i) => inputOf(layer, i));
        emit({ kind: "add", name: layer.name, inputs, relu: relu !== null }, layer, relu);
        break;
      }
      case "MaxPooling2D": {
        const { pool, strides, padding } = poolGeometry(cfg, layer.name, who);
        const op: FoldedOp = {
          kind: "maxpool",
          name: layer.name,
          input: inputOf(layer),
          pool,
          strides,
          padding,
          inputSize: spatialInputSize(layer, who),
        };
        emit(op, layer, null);
        break;
      }
      case "GlobalAveragePooling2D":
        emit({ kind: "mean", name: layer.name, input: inputOf(layer) }, layer, null);
        break;
      case "Dropout":
        source.set(layer.name, inputOf(layer));
        break;
      case "Dense": {
        const act = cfgString(cfg, "activation");
        if (act !== undefined && act !== "linear")
          throw new Error(`${who}: dense ${layer.name} has activation ${act}`);
        const w = weightsByName(layer);
        const kernelT = w.get("kernel");
        if (kernelT?.rank !== 2) throw new Error(`${who}: dense ${layer.name} has no 2-D kernel`);
        const [din = 0, dout = 0] = kernelT.shape;
        const op: FoldedOp = {
          kind: "dense",
          name: layer.name,
          input: inputOf(layer),
          kernel: Float32Array.from(kernelT.dataSync() as Float32Array),
          kernelShape: [din, dout],
          bias: w.has("bias")
            ? Float32Array.from(needWeight(w, "bias", layer.name, who))
            : new Float32Array(dout),
        };
        emit(op, layer, null);
        break;
      }
      default:
        throw new Error(`${who}: layer ${layer.name} (${cls}) is not supported`);
    }
  }
  if (input === null) throw new Error(`${who}: the model has no input layer`);
  return { input, ops, outputOf: (layer) => source.get(layer) };
}
