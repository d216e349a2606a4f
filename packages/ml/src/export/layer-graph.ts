/**
 * Reading a TF.js layers graph for the two compilers of a trained classifier: the ONNX export
 * (onnx.ts) and the fused TF.js inference plan (fused-inference.ts). Both fold each batch norm that
 * directly follows a convolution into that convolution's kernel and bias; `foldConv` is that fold.
 * Errors name the compiler (`who`) and the layer.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";

export type LayerConfig = Record<string, unknown>;

export function cfgNumbers(
  cfg: LayerConfig,
  key: string,
  rank: number,
  layer: string,
  who: string,
): number[] {
  const v = cfg[key];
  if (typeof v === "number") return Array.from({ length: rank }, () => v);
  if (Array.isArray(v) && v.length === rank && v.every((x) => typeof x === "number")) return v as number[];
  throw new Error(`${who}: layer ${layer}: cannot read ${key} (${JSON.stringify(v)})`);
}

export function cfgString(cfg: LayerConfig, key: string): string | undefined {
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
export function poolGeometry(
  cfg: LayerConfig,
  layer: string,
  who: string,
): { pool: number[]; strides: number[]; padding: "same" | "valid" } {
  const pool = cfgNumbers(cfg, "poolSize", 2, layer, who);
  const strides =
    cfg.strides === null || cfg.strides === undefined ? pool : cfgNumbers(cfg, "strides", 2, layer, who);
  return { pool, strides, padding: cfgString(cfg, "padding") === "same" ? "same" : "valid" };
}

export function spatialInputSize(layer: tfl.layers.Layer, who: string): number[] {
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

export function weightsByName(layer: tfl.layers.Layer): Map<string, tf.Tensor> {
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

export function needWeight(
  map: Map<string, tf.Tensor>,
  key: string,
  layer: string,
  who: string,
): Float32Array {
  const t = map.get(key);
  if (!t)
    throw new Error(`${who}: layer ${layer} has no weight "${key}" (has ${[...map.keys()].join(", ")})`);
  return t.dataSync() as Float32Array;
}

export function inboundLayers(layer: tfl.layers.Layer, who: string): tfl.layers.Layer[] {
  if (layer.inboundNodes.length !== 1)
    throw new Error(
      `${who}: layer ${layer.name} is applied ${layer.inboundNodes.length} times; shared layers are not supported`,
    );
  return layer.inboundNodes[0]?.inboundLayers ?? [];
}

export function consumers(layer: tfl.layers.Layer, model: tfl.LayersModel): tfl.layers.Layer[] {
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
export function foldConv(conv: tfl.layers.Layer, bn: tfl.layers.Layer | null, who: string): FoldedConv {
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
