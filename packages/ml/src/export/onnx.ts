/**
 * Export of a trained classifier (our TF.js layers ResNet encoder + heads) to ONNX, hand-encoded
 * (opset 13, IR version 7). The ONNX graph is the scoring path of predictImages, whole:
 *
 *   image [N,S,S,1] float in [0,1] (NHWC, exactly what imageBatch feeds TF.js)
 *     -> Transpose to NCHW -> (x - mean) / std
 *     -> encoder: Conv (BatchNorm folded into the conv's weights and bias) / Relu / Add / MaxPool
 *        (the folded graph of layer-graph.ts, which the fused TF.js inference plan also runs)
 *     -> GlobalAveragePool -> Flatten                        = "embedding" [N,D]
 *     -> Gemm (the heads dense layer; dropout is the identity at inference) = "logits" [N,K]
 *     -> Sigmoid                                             = "probs" [N,K]
 *
 * Supported layers: InputLayer, Conv2D (linear activation, "same"/"valid" padding), BatchNormalization
 * directly after a Conv2D (folded), ReLU, Add, MaxPooling2D, GlobalAveragePooling2D, Dropout, Dense
 * (linear). Anything else throws, naming the layer.
 */
import { type ClassifierNet, EMBEDDING_LAYER } from "../models/resnet.js";
import { foldGraph, hwioToOihw, samePads } from "./layer-graph.js";
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

function buildGraph(net: ClassifierNet): GraphBuilder {
  const g = new GraphBuilder();
  const graph = foldGraph(net.full, WHO);
  const norm = net.config.normalization;
  g.node("Transpose", "to_nchw", [ONNX_INPUT], ["image_nchw"], [{ name: "perm", ints: [0, 3, 1, 2] }]);
  g.init("norm/mean", [], Float32Array.of(norm.mean));
  g.init("norm/std", [], Float32Array.of(norm.std));
  g.node("Sub", "norm_sub", ["image_nchw", "norm/mean"], ["image_centered"]);
  g.node("Div", "norm_div", ["image_centered", "norm/std"], ["image_normalized"]);
  /** The ONNX tensor of each op's output. */
  const tensor = (name: string): string => (name === graph.input ? "image_normalized" : `t/${name}`);
  for (const op of graph.ops) {
    const out = tensor(op.name);
    switch (op.kind) {
      case "conv": {
        const f = op.conv;
        const pads = f.padding === "same" ? samePads(op.inputSize, f.kernelSize, f.strides) : [0, 0, 0, 0];
        const [kh = 1, kw = 1, cin = 1, cout = 1] = f.kernelShape;
        const w = g.init(`${op.name}/W`, [cout, cin, kh, kw], hwioToOihw(f.kernel, f.kernelShape));
        const b = g.init(`${op.name}/B`, [cout], f.bias);
        const conv = op.relu ? `${out}/conv` : out;
        g.node(
          "Conv",
          op.name,
          [tensor(op.input), w, b],
          [conv],
          [
            { name: "kernel_shape", ints: f.kernelSize },
            { name: "strides", ints: f.strides },
            { name: "pads", ints: pads },
          ],
        );
        if (op.relu) g.node("Relu", `${op.name}/relu`, [conv], [out]);
        break;
      }
      case "add": {
        const sum = op.relu ? `${out}/sum` : out;
        let acc = tensor(op.inputs[0] ?? "");
        for (let i = 1; i < op.inputs.length; i++) {
          const o = i === op.inputs.length - 1 ? sum : `${out}/${i}`;
          g.node("Add", `${op.name}/${i}`, [acc, tensor(op.inputs[i] ?? "")], [o]);
          acc = o;
        }
        if (op.relu) g.node("Relu", `${op.name}/relu`, [sum], [out]);
        break;
      }
      case "relu":
        g.node("Relu", op.name, [tensor(op.input)], [out]);
        break;
      case "maxpool": {
        const pads = op.padding === "same" ? samePads(op.inputSize, op.pool, op.strides) : [0, 0, 0, 0];
        g.node(
          "MaxPool",
          op.name,
          [tensor(op.input)],
          [out],
          [
            { name: "kernel_shape", ints: op.pool },
            { name: "strides", ints: op.strides },
            { name: "pads", ints: pads },
          ],
        );
        break;
      }
      case "mean":
        g.node("GlobalAveragePool", `${op.name}/pool`, [tensor(op.input)], [`${out}/pool`]);
        g.node("Flatten", op.name, [`${out}/pool`], [out], [{ name: "axis", int: 1 }]);
        break;
      case "dense": {
        const [din, dout] = op.kernelShape;
        const w = g.init(`${op.name}/W`, [din, dout], op.kernel);
        const b = g.init(`${op.name}/B`, [dout], op.bias);
        g.node("Gemm", op.name, [tensor(op.input), w, b], [out]);
        break;
      }
    }
  }
  const logits = net.full.outputs[0];
  const logitsOp = logits ? graph.outputOf(logits.sourceLayer.name) : undefined;
  const embOp = graph.outputOf(EMBEDDING_LAYER);
  if (logitsOp === undefined || embOp === undefined)
    throw new Error("ONNX export: the classifier has no logits or embedding output");
  g.node("Identity", "logits_out", [tensor(logitsOp)], [ONNX_OUTPUTS.logits]);
  g.node("Sigmoid", "probs_out", [tensor(logitsOp)], [ONNX_OUTPUTS.probs]);
  g.node("Identity", "embedding_out", [tensor(embOp)], [ONNX_OUTPUTS.embedding]);
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
