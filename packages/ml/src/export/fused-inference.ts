/**
 * The classifier compiled for inference on TF.js: every batch norm folded into the convolution
 * before it, each ReLU that follows a convolution fused into it (one FusedConv2D with bias and
 * activation instead of Conv2D + FusedBatchNorm + Relu), and the encoder run as a flat list of
 * kernels with no tfjs-layers bookkeeping. The same folded graph as the ONNX export (foldGraph in
 * layer-graph.ts).
 *
 * On the wasm backend the batch-norm passes were about 40% of a 64 px scoring batch
 * (docs/benchmarks.md, "Pool scoring throughput"). Outputs equal the layers model in inference mode
 * (training=false) up to float rounding; fused-inference.test.ts checks it on non-trivial
 * batch-norm statistics.
 *
 * On wasm, "same" convolutions of stride 1 or 2 with an odd square kernel (every convolution of the
 * encoder) run as the project's SIMD loop (backend/conv-simd.ts) where the output width is a
 * multiple of 4 and the output channels of 8; everything else as TF.js kernels.
 *
 * Supported layers: those of buildClassifier: InputLayer, Conv2D (+ BatchNormalization, + ReLU),
 * ReLU, Add, MaxPooling2D, GlobalAveragePooling2D, Dropout (identity), Dense (linear). Anything
 * else throws, naming the layer.
 */
import * as tf from "@tensorflow/tfjs-core";
import { convSimd, convSimdApplies, convSimdFits, packConvFilter } from "../backend/conv-simd.js";
import { type ClassifierNet, EMBEDDING_LAYER, FEATURES_LAYER, HEADS_LAYER } from "../models/resnet.js";
import { normalizeImages } from "../ssl/pretrain.js";
import { type FoldedOp, foldGraph, opInputs } from "./layer-graph.js";

const WHO = "fused inference";

/** A folded op with its weights as tensors (owned by the plan). */
type Step =
  | (Extract<FoldedOp, { kind: "conv" }> & {
      filter: tf.Tensor4D;
      biasT: tf.Tensor1D;
      /** k x k "same" layers (k odd), stride 1 or 2, Co a multiple of 8: the filter packed for convSimd. */
      packed: tf.Tensor1D | null;
    })
  | (Extract<FoldedOp, { kind: "dense" }> & { kernelT: tf.Tensor2D; biasT: tf.Tensor1D })
  | Exclude<FoldedOp, { kind: "conv" | "dense" }>;

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

function pair(v: number[]): [number, number] {
  return [v[0] ?? 1, v[1] ?? 1];
}

/** Compiles `net` as it is now; later weight updates need a new compile. */
export function compileFusedClassifier(net: ClassifierNet): FusedClassifier {
  const graph = foldGraph(net.full, WHO);
  const embName = graph.outputOf(EMBEDDING_LAYER);
  const logitsName = graph.outputOf(HEADS_LAYER);
  if (embName === undefined || logitsName === undefined || graph.outputOf(FEATURES_LAYER) === undefined) {
    throw new Error(
      `${WHO}: the classifier has no ${FEATURES_LAYER}, ${EMBEDDING_LAYER} or ${HEADS_LAYER} layer`,
    );
  }
  const owned: tf.Tensor[] = [];
  const steps: Step[] = graph.ops.map((op): Step => {
    if (op.kind === "conv") {
      const filter = tf.tensor4d(op.conv.kernel, op.conv.kernelShape);
      const biasT = tf.tensor1d(op.conv.bias);
      owned.push(filter, biasT);
      const [k, , ci, co] = op.conv.kernelShape;
      const packed = convSimdFits(op.conv.kernelShape, op.conv.strides, op.conv.padding)
        ? tf.tensor1d(packConvFilter(op.conv.kernel, k, ci, co))
        : null;
      if (packed) owned.push(packed);
      return { ...op, filter, biasT, packed };
    }
    if (op.kind === "dense") {
      const kernelT = tf.tensor2d(op.kernel, op.kernelShape);
      const biasT = tf.tensor1d(op.bias);
      owned.push(kernelT, biasT);
      return { ...op, kernelT, biasT };
    }
    return op;
  });
  const inputName = graph.input;
  // Each intermediate is released after its last reader, so a batch holds a few maps, not all.
  const lastUse = new Map<string, number>();
  steps.forEach((s, i) => {
    for (const name of opInputs(s)) lastUse.set(name, i);
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
            case "conv": {
              const x = get(s.input) as tf.Tensor4D;
              const stride = s.conv.strides[0] ?? 1;
              if (s.packed && convSimdApplies(x.shape[2], s.conv.kernelShape[3], stride)) {
                y = convSimd(x, s.packed, s.biasT, s.relu, stride, s.conv.kernelShape[0]);
                break;
              }
              y = tf.fused.conv2d({
                x,
                filter: s.filter,
                strides: pair(s.conv.strides),
                pad: s.conv.padding,
                bias: s.biasT,
                activation: s.relu ? "relu" : "linear",
              });
              break;
            }
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
              y = tf.maxPool(get(s.input) as tf.Tensor4D, pair(s.pool), pair(s.strides), s.padding);
              break;
            case "mean":
              y = tf.mean(get(s.input), [1, 2]);
              break;
            case "dense":
              y = tf.add(tf.matMul(get(s.input) as tf.Tensor2D, s.kernelT), s.biasT);
              break;
          }
          values.set(s.name, y);
          for (const name of opInputs(s)) {
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
