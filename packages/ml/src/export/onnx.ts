/**
 * Export of a trained classifier (our TF.js layers ResNet encoder + heads) to ONNX, hand-encoded
 * (opset 13, IR version 7). The ONNX graph is the scoring path of predictImages, whole:
 *
 *   image [N,S,S,1] float in [0,1] (NHWC, exactly what imageBatch feeds TF.js)
 *     -> Transpose to NCHW -> (x - mean) / std
 *     -> encoder: Conv (BatchNorm folded into the conv's weights and bias) / Relu / Add / MaxPool
 *     -> GlobalAveragePool -> Flatten                        = "embedding" [N,D]
 *     -> Gemm (the heads dense layer; dropout is the identity at inference) = "logits" [N,K]
 *     -> Sigmoid                                             = "probs" [N,K]
 *
 * Supported layers: InputLayer, Conv2D (linear activation, "same"/"valid" padding), BatchNormalization
 * directly after a Conv2D (folded), ReLU, Add, MaxPooling2D, GlobalAveragePooling2D, Dropout, Dense
 * (linear). Anything else throws, naming the layer.
 */
import type * as tfl from "@tensorflow/tfjs-layers";
import { type ClassifierNet, EMBEDDING_LAYER } from "../models/resnet.js";
import {
  cfgString,
  consumers,
  foldConv,
  hwioToOihw,
  inboundLayers,
  type LayerConfig,
  needWeight,
  poolGeometry,
  samePads,
  spatialInputSize,
  weightsByName,
} from "./layer-graph.js";
import { ProtoWriter } from "./protobuf.js";

export { samePads };

const WHO = "ONNX export";

export const ONNX_OPSET = 13;
export const ONNX_IR_VERSION = 7;
export const ONNX_INPUT = "image";
export const ONNX_OUTPUTS = { probs: "probs", logits: "logits", embedding: "embedding" } as const;

const FLOAT = 1;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

type Attr =
  | { name: string; int: number }
  | { name: string; ints: number[] }
  | { name: string; float: number };

interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs?: Attr[];
}

interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array;
}

class GraphBuilder {
  nodes: OnnxNode[] = [];
  initializers: Initializer[] = [];

  init(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, data });
    return name;
  }

  node(op: string, name: string, inputs: string[], outputs: string[], attrs?: Attr[]): void {
    // Internal tensors are named after layers ("embedding", "heads"); the graph's outputs keep the
    // bare names, so every other tensor and node gets the "t/" prefix.
    this.nodes.push({ op, name, inputs, outputs, ...(attrs ? { attrs } : {}) });
  }
}

function convNode(
  g: GraphBuilder,
  conv: tfl.layers.Layer,
  input: string,
  output: string,
  bn: tfl.layers.Layer | null,
): void {
  const f = foldConv(conv, bn, WHO);
  const pads =
    f.padding === "same" ? samePads(spatialInputSize(conv, WHO), f.kernelSize, f.strides) : [0, 0, 0, 0];
  const name = bn ? `${conv.name}+${bn.name}` : conv.name;
  const [kh = 1, kw = 1, cin = 1, cout = 1] = f.kernelShape;
  const wName = g.init(`${name}/W`, [cout, cin, kh, kw], hwioToOihw(f.kernel, f.kernelShape));
  const bName = g.init(`${name}/B`, [cout], f.bias);
  g.node(
    "Conv",
    name,
    [input, wName, bName],
    [output],
    [
      { name: "kernel_shape", ints: f.kernelSize },
      { name: "strides", ints: f.strides },
      { name: "pads", ints: pads },
    ],
  );
}

function buildGraph(net: ClassifierNet): GraphBuilder {
  const g = new GraphBuilder();
  const model = net.full;
  const norm = net.config.normalization;
  g.node("Transpose", "to_nchw", [ONNX_INPUT], ["image_nchw"], [{ name: "perm", ints: [0, 3, 1, 2] }]);
  g.init("norm/mean", [], Float32Array.of(norm.mean));
  g.init("norm/std", [], Float32Array.of(norm.std));
  g.node("Sub", "norm_sub", ["image_nchw", "norm/mean"], ["image_centered"]);
  g.node("Div", "norm_div", ["image_centered", "norm/std"], ["image_normalized"]);
  /** ONNX tensor holding each layer's output. */
  const out = new Map<string, string>();
  const deferredConvs = new Set<string>();
  const inputOf = (layer: tfl.layers.Layer, i = 0): string => {
    const src = inboundLayers(layer, WHO)[i];
    const name = src ? out.get(src.name) : undefined;
    if (!src || !name) throw new Error(`ONNX export: input ${i} of layer ${layer.name} is not available`);
    return name;
  };
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as LayerConfig;
    const t = `t/${layer.name}`;
    switch (cls) {
      case "InputLayer":
        out.set(layer.name, "image_normalized");
        break;
      case "Conv2D": {
        const next = consumers(layer, model);
        if (next.length === 1 && next[0]?.getClassName() === "BatchNormalization") {
          deferredConvs.add(layer.name);
          out.set(layer.name, inputOf(layer));
        } else {
          convNode(g, layer, inputOf(layer), t, null);
          out.set(layer.name, t);
        }
        break;
      }
      case "BatchNormalization": {
        const src = inboundLayers(layer, WHO)[0];
        if (!src || !deferredConvs.has(src.name))
          throw new Error(
            `ONNX export: batchnorm ${layer.name} does not follow a conv; only folded batchnorm is supported`,
          );
        convNode(g, src, inputOf(layer), t, layer);
        out.set(layer.name, t);
        break;
      }
      case "ReLU": {
        const maxValue = cfg.maxValue;
        if (maxValue !== null && maxValue !== undefined)
          throw new Error(`ONNX export: relu ${layer.name} is capped`);
        g.node("Relu", layer.name, [inputOf(layer)], [t]);
        out.set(layer.name, t);
        break;
      }
      case "Add": {
        const n = inboundLayers(layer, WHO).length;
        let acc = inputOf(layer, 0);
        for (let i = 1; i < n; i++) {
          const o = i === n - 1 ? t : `${t}/${i}`;
          g.node("Add", `${layer.name}/${i}`, [acc, inputOf(layer, i)], [o]);
          acc = o;
        }
        out.set(layer.name, acc);
        break;
      }
      case "MaxPooling2D": {
        const { pool, strides, padding } = poolGeometry(cfg, layer.name, WHO);
        const pads =
          padding === "same" ? samePads(spatialInputSize(layer, WHO), pool, strides) : [0, 0, 0, 0];
        g.node(
          "MaxPool",
          layer.name,
          [inputOf(layer)],
          [t],
          [
            { name: "kernel_shape", ints: pool },
            { name: "strides", ints: strides },
            { name: "pads", ints: pads },
          ],
        );
        out.set(layer.name, t);
        break;
      }
      case "GlobalAveragePooling2D": {
        g.node("GlobalAveragePool", `${layer.name}/pool`, [inputOf(layer)], [`${t}/pool`]);
        g.node("Flatten", layer.name, [`${t}/pool`], [t], [{ name: "axis", int: 1 }]);
        out.set(layer.name, t);
        break;
      }
      case "Dropout":
        out.set(layer.name, inputOf(layer));
        break;
      case "Dense": {
        const act = cfgString(cfg, "activation");
        if (act !== undefined && act !== "linear")
          throw new Error(`ONNX export: dense ${layer.name} has activation ${act}`);
        const w = weightsByName(layer);
        const kernelT = w.get("kernel");
        if (!kernelT) throw new Error(`ONNX export: dense ${layer.name} has no kernel`);
        const [din = 0, dout = 0] = kernelT.shape;
        const inputs = [
          inputOf(layer),
          g.init(`${layer.name}/W`, [din, dout], kernelT.dataSync() as Float32Array),
        ];
        inputs.push(
          g.init(
            `${layer.name}/B`,
            [dout],
            w.has("bias") ? needWeight(w, "bias", layer.name, WHO) : new Float32Array(dout),
          ),
        );
        g.node("Gemm", layer.name, inputs, [t]);
        out.set(layer.name, t);
        break;
      }
      default:
        throw new Error(`ONNX export: layer ${layer.name} (${cls}) is not supported`);
    }
  }
  const logits = model.outputs[0];
  const logitsName = logits ? out.get(logits.sourceLayer.name) : undefined;
  const embName = out.get(EMBEDDING_LAYER);
  if (!logitsName || !embName)
    throw new Error("ONNX export: the classifier has no logits or embedding output");
  g.node("Identity", "logits_out", [logitsName], [ONNX_OUTPUTS.logits]);
  g.node("Sigmoid", "probs_out", [logitsName], [ONNX_OUTPUTS.probs]);
  g.node("Identity", "embedding_out", [embName], [ONNX_OUTPUTS.embedding]);
  return g;
}

function writeValueInfo(w: ProtoWriter, name: string, dims: (number | string)[]): void {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, FLOAT);
      tensor.message(2, (shape) => {
        for (const d of dims)
          shape.message(1, (dim) => (typeof d === "number" ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

function writeAttr(w: ProtoWriter, a: Attr): void {
  w.string(1, a.name);
  if ("int" in a) w.int(3, a.int).int(20, ATTR_INT);
  else if ("float" in a) w.float(2, a.float).int(20, ATTR_FLOAT);
  else {
    for (const v of a.ints) w.int(8, v);
    w.int(20, ATTR_INTS);
  }
}

/** The classifier as an ONNX ModelProto (bytes). Input "image" [N,S,S,1]; outputs probs, logits, embedding. */
export function exportClassifierToOnnx(
  net: ClassifierNet,
  opts: { producerVersion?: string } = {},
): Uint8Array {
  const g = buildGraph(net);
  const S = net.config.encoder.inputSize;
  const K = net.headKeys.length;
  const D = net.encoder.outputs[0]?.shape[3];
  if (typeof D !== "number") throw new Error("ONNX export: unknown embedding size");
  const model = new ProtoWriter();
  model.int(1, ONNX_IR_VERSION);
  model.string(2, "xray-ml");
  model.string(3, opts.producerVersion ?? "1");
  model.message(7, (graph) => {
    for (const n of g.nodes)
      graph.message(1, (node) => {
        for (const i of n.inputs) node.string(1, i);
        for (const o of n.outputs) node.string(2, o);
        node.string(3, n.name);
        node.string(4, n.op);
        for (const a of n.attrs ?? []) node.message(5, (attr) => writeAttr(attr, a));
      });
    graph.string(2, "classifier");
    for (const init of g.initializers)
      graph.message(5, (t) => {
        for (const d of init.dims) t.int(1, d);
        t.int(2, FLOAT);
        t.string(8, init.name);
        t.bytes(9, new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength));
      });
    graph.message(11, (v) => writeValueInfo(v, ONNX_INPUT, ["N", S, S, 1]));
    graph.message(12, (v) => writeValueInfo(v, ONNX_OUTPUTS.probs, ["N", K]));
    graph.message(12, (v) => writeValueInfo(v, ONNX_OUTPUTS.logits, ["N", K]));
    graph.message(12, (v) => writeValueInfo(v, ONNX_OUTPUTS.embedding, ["N", D]));
  });
  model.message(8, (op) => op.string(1, "").int(2, ONNX_OPSET));
  return model.finish();
}
