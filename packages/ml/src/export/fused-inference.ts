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
 * multiple of 4 and the output channels of 8; everything else as TF.js kernels. Between loop
 * layers, maps carry the zero border their readers need (written by the loop as it writes the map,
 * so no layer copies its input into a padded buffer), and a residual Add (+ ReLU) whose last input
 * comes from a loop convolution is done in that convolution's output stage. Borders and fusion
 * are decided per batch from the maps' widths, so a layer that falls back to TF.js gets plain maps.
 * The input's normalization is done as the first convolution copies the images into its bordered
 * buffer, and a max-pool of a ReLU output between loop layers runs as a SIMD loop over the bordered
 * map too (backend/conv-simd.ts). 3 x 3 stride-1 layers with C a multiple of 4 carry Winograd
 * weights too, and run as Winograd F(2 x 2, 3 x 3) where the map's shape suits it.
 *
 * Supported layers: those of buildClassifier: InputLayer, Conv2D (+ BatchNormalization, + ReLU),
 * ReLU, Add, MaxPooling2D, GlobalAveragePooling2D, Dropout (identity), Dense (linear). Anything
 * else throws, naming the layer.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  convSimd,
  convSimdApplies,
  convSimdBorder,
  convSimdFits,
  maxPoolSimd,
  maxPoolSimdApplies,
  packConvFilter,
  packWinogradFilter,
} from "../backend/conv-simd.js";
import { type ImageSet, imageBatch } from "../data/image-set.js";
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
      /** 3 x 3 stride-1 layers with C a multiple of 4: the Winograd weights (packWinogradFilter). */
      wino: tf.Tensor1D | null;
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
  /**
   * The same for images [start, start + count) of an image set, read from their 8-bit pixels
   * where the first convolution runs the loop (no float batch is built), else through imageBatch.
   */
  runImages(images: ImageSet, start: number, count: number): { embedding: tf.Tensor2D; logits: tf.Tensor2D };
  /** Releases the folded weights. */
  dispose(): void;
}

let sumProjections = true;
/**
 * Whether loop convolutions sum their block's 1 x 1 projection shortcut in (on, the default) or the
 * projection runs as its own loop convolution, added in the second one's output stage (A/B
 * benchmarks).
 */
export function setSumProjections(on: boolean): void {
  sumProjections = on;
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
      const wino =
        packed && k === 3 && (op.conv.strides[0] ?? 1) === 1 && ci % 4 === 0
          ? tf.tensor1d(packWinogradFilter(op.conv.kernel, ci, co))
          : null;
      if (wino) owned.push(wino);
      return { ...op, filter, biasT, packed, wino };
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
  // Residual fusion. An Add of two maps is done inside one loop convolution:
  // - a k x k convolution (stride 1) and a 1 x 1 projection shortcut, each read by the Add only:
  //   the projection's multiply-adds go into the same accumulators (its map is never written);
  // - otherwise, when its later-computed input is a loop-shaped convolution that nothing else
  //   reads: that convolution adds the other input (ready by then) in its output stage.
  // Either way without ReLU before the Add; the Add's ReLU moves into the convolution.
  const producer = new Map<string, number>();
  steps.forEach((s, i) => {
    producer.set(s.name, i);
  });
  const readers = new Map<string, number>();
  for (const s of steps) for (const name of opInputs(s)) readers.set(name, (readers.get(name) ?? 0) + 1);
  /** A loop-shaped convolution without ReLU whose output only one step reads (and is not kept). */
  const soleConv = (name: string) => {
    const at = producer.get(name) ?? -1;
    const s = steps[at];
    if (s?.kind !== "conv" || !s.packed || s.relu || readers.get(name) !== 1 || keep.has(name)) return null;
    return { at, s };
  };
  interface Fusion {
    add: number;
    relu: boolean;
    /** The Add's other input, added in the output stage. */
    residual?: string;
    /** The projection's step, its input and the two convolutions' biases summed. */
    shortcut?: { step: number; input: string; stride: number; bias: tf.Tensor1D; packed: tf.Tensor1D };
  }
  /** Conv step index -> the Add it does. */
  const fusable = new Map<number, Fusion>();
  /** Conv step index -> the Add it does when main's projection is not summed in on a batch. */
  const fallbacks = new Map<number, { main: number; fusion: Fusion }>();
  steps.forEach((s, i) => {
    if (s.kind !== "add" || s.inputs.length !== 2 || keep.has(s.name)) return;
    const [a = "", b = ""] = s.inputs;
    const [ca, cb] = [soleConv(a), soleConv(b)];
    if (ca && cb) {
      const [main, proj] = (cb.s.conv.kernelShape[0] ?? 0) === 1 ? [ca, cb] : [cb, ca];
      const projStride = proj.s.conv.strides[0] ?? 1;
      const ready = (producer.get(proj.s.input) ?? -1) < main.at;
      if (
        proj.s.conv.kernelShape[0] === 1 &&
        (main.s.conv.kernelShape[0] ?? 1) > 1 &&
        (main.s.conv.strides[0] ?? 1) === 1 &&
        ready &&
        proj.s.packed
      ) {
        const bias = tf.add(main.s.biasT, proj.s.biasT) as tf.Tensor1D;
        owned.push(bias);
        const shortcut = {
          step: proj.at,
          input: proj.s.input,
          stride: projStride,
          bias,
          packed: proj.s.packed,
        };
        fusable.set(main.at, { add: i, relu: s.relu, shortcut });
        // When the projection cannot be summed in, the later of the two adds the other's map.
        const [later, other] = main.at > proj.at ? [main.at, proj.s.name] : [proj.at, main.s.name];
        fallbacks.set(later, { main: main.at, fusion: { add: i, residual: other, relu: s.relu } });
        // The projection's input is now read at the main convolution too.
        lastUse.set(proj.s.input, Math.max(lastUse.get(proj.s.input) ?? 0, main.at));
        return;
      }
    }
    const [pa = -1, pb = -1] = [producer.get(a), producer.get(b)];
    const [convName, residual, at] = pa > pb ? [a, b, pa] : [b, a, pb];
    if (soleConv(convName)) fusable.set(at, { add: i, residual, relu: s.relu });
  });
  /** Projection step -> the main convolution that sums it in. */
  const projections = new Map<number, number>();
  for (const [main, f] of fusable) if (f.shortcut) projections.set(f.shortcut.step, main);
  /** Who reads each map: the step and whether as a fused residual. */
  const readersOf = new Map<string, Array<{ step: number; residual: boolean }>>();
  steps.forEach((s, i) => {
    for (const name of opInputs(s)) {
      const list = readersOf.get(name) ?? [];
      list.push({ step: i, residual: false });
      readersOf.set(name, list);
    }
  });
  /** Add step -> the input a fused convolution adds in its output stage. */
  const residualOfAdd = new Map<number, string>();
  for (const [conv, f] of fusable) {
    if (f.residual === undefined) continue;
    residualOfAdd.set(f.add, f.residual);
    const list = readersOf.get(f.residual) ?? [];
    // The Add reads it either way; as a fused residual, the convolution reads it.
    list.push({ step: conv, residual: true });
    readersOf.set(f.residual, list);
  }
  /** Whether conv step `i` runs the loop on an input of this width. */
  const loopRuns = (i: number, width: number): boolean => {
    const s = steps[i];
    return (
      s?.kind === "conv" &&
      s.packed !== null &&
      convSimdApplies(width, s.conv.kernelShape[3] ?? 0, s.conv.strides[0] ?? 1)
    );
  };
  /**
   * Whether the main convolution `main` sums in its projection on this batch: both run the loop
   * (decided from the Add's output width, which both steps know).
   */
  const projectionFused = (main: number, widthOut: number): boolean => {
    const sc = fusable.get(main)?.shortcut;
    if (sc === undefined || !sumProjections) return false;
    return loopRuns(main, widthOut) && loopRuns(sc.step, widthOut * sc.stride);
  };
  /** Maps that hold no negative value (ReLU outputs, and max-pools of them). */
  const nonNegative = new Set<string>();
  for (const s of steps) {
    if (((s.kind === "conv" || s.kind === "add") && s.relu) || s.kind === "relu") nonNegative.add(s.name);
    if (s.kind === "maxpool" && nonNegative.has(s.input)) nonNegative.add(s.name);
  }
  /** Whether max-pool step `i` runs the SIMD loop on this non-negative map (C channels). */
  const poolRuns = (i: number, name: string, c: number): boolean => {
    const s = steps[i];
    return (
      s?.kind === "maxpool" && nonNegative.has(name) && maxPoolSimdApplies(c, s.pool, s.strides, s.padding)
    );
  };
  /**
   * The zero border to write around a loop layer's output map (h x w, C channels): the widest any
   * loop reader (a convolution, or the max-pool of a non-negative map) needs, or none when a TF.js
   * kernel reads it too (a fused Add counts as its residual only when that convolution runs the loop).
   */
  const borderFor = (name: string, h: number, w: number, c: number): number => {
    let border = 0;
    for (const r of readersOf.get(name) ?? []) {
      const s = steps[r.step];
      if (s?.kind === "add" && residualOfAdd.get(r.step) === name) {
        continue; // decided by the residual entry of the fused convolution
      }
      if (r.residual) {
        if (s?.kind !== "conv") return 0;
        const stride = s.conv.strides[0] ?? 1;
        // The convolution's output is w wide, like its residual; its input w x stride (or one less).
        if (!loopRuns(r.step, w * stride)) return 0;
        continue;
      }
      if (s?.kind === "maxpool" && poolRuns(r.step, name, c)) {
        const [k = 1, stride = 1] = [s.pool[0], s.strides[0]];
        border = Math.max(border, convSimdBorder(w, k, stride), convSimdBorder(h, k, stride));
        continue;
      }
      if (s?.kind !== "conv" || !loopRuns(r.step, w)) return 0;
      const k = s.conv.kernelShape[0] ?? 1;
      const stride = s.conv.strides[0] ?? 1;
      border = Math.max(border, convSimdBorder(w, k, stride), convSimdBorder(h, k, stride));
    }
    return border;
  };
  const norm = net.config.normalization;
  /**
   * The first convolution, where it is the input's only reader and runs the loop on images this
   * wide: it then reads the input where it lies and normalizes it as it copies it into its bordered
   * buffer (no normalization kernels, and 8-bit pixels need no float batch at all). Else -1.
   */
  const stemFor = (width: number): number => {
    const [first, ...others] = readersOf.get(inputName) ?? [];
    return first && others.length === 0 && loopRuns(first.step, width) ? first.step : -1;
  };
  /** `x`: images in [0, 1] [N,S,S,1], or with `u8` ([N, S, S]) their bytes, 4 per int32 (stem only). */
  const exec = (x: tf.Tensor, u8: [number, number, number] | null) =>
    tf.tidy(() => {
      const values = new Map<string, tf.Tensor>();
      /** Zero border (pixels) around each map that has one; maps not listed have none. */
      const borders = new Map<string, number>();
      const stemStep = stemFor(u8 ? u8[2] : (x.shape[2] ?? 0));
      if (u8 && stemStep < 0) throw new Error(`${WHO}: 8-bit pixels need the first convolution on the loop`);
      values.set(inputName, stemStep >= 0 ? x : normalizeImages(x as tf.Tensor4D, norm));
      const get = (name: string): tf.Tensor => {
        const v = values.get(name);
        if (!v) throw new Error(`${WHO}: ${name} was not computed`);
        return v;
      };
      /** A map without its border (for TF.js kernels). */
      const plain = (name: string): tf.Tensor => {
        const v = get(name);
        const b = borders.get(name) ?? 0;
        if (b === 0) return v;
        const [n = 0, h = 0, w = 0, c = 0] = v.shape;
        return tf.slice(v, [0, b, b, 0], [n, h - 2 * b, w - 2 * b, c]);
      };
      /** Adds whose convolution did them; their step only releases inputs. */
      const done = new Set<number>();
      steps.forEach((s, i) => {
        let y: tf.Tensor | null = null;
        let name = s.name;
        switch (s.kind) {
          case "conv": {
            const xIn = get(s.input) as tf.Tensor4D;
            const inPad = borders.get(s.input) ?? 0;
            const [, h0 = 0, w0 = 0] = i === stemStep && u8 ? u8 : xIn.shape;
            const [h, w] = [h0 - 2 * inPad, w0 - 2 * inPad];
            const stride = s.conv.strides[0] ?? 1;
            const k = s.conv.kernelShape[0] ?? 1;
            const mainOf = projections.get(i);
            if (mainOf !== undefined && projectionFused(mainOf, Math.ceil(w / stride))) break;
            if (s.packed && loopRuns(i, w)) {
              const [ho, wo] = [Math.ceil(h / stride), Math.ceil(w / stride)];
              let fuse = fusable.get(i);
              // A projection not summed in on this batch: the later of the two adds the other's map.
              if (fuse?.shortcut && !projectionFused(i, w)) fuse = undefined;
              const fb = fallbacks.get(i);
              if (!fuse && fb && !projectionFused(fb.main, wo)) fuse = fb.fusion;
              if (fuse) name = steps[fuse.add]?.name ?? name;
              const outPad = borderFor(name, ho, wo, s.conv.kernelShape[3] ?? 0);
              const residual = fuse?.residual !== undefined ? (get(fuse.residual) as tf.Tensor4D) : undefined;
              const normalize =
                i !== stemStep
                  ? {}
                  : u8
                    ? { inScale: 1 / (255 * norm.std), inShift: -norm.mean / norm.std, u8Shape: u8 }
                    : { inScale: 1 / norm.std, inShift: -norm.mean / norm.std };
              const sc = fuse?.shortcut;
              const shortcut = sc && {
                x: get(sc.input) as tf.Tensor4D,
                packed: sc.packed,
                pad: borders.get(sc.input) ?? 0,
                stride: sc.stride,
              };
              y = convSimd(xIn, s.packed, sc ? sc.bias : s.biasT, fuse ? fuse.relu : s.relu, stride, k, {
                inPad,
                outPad,
                residual,
                resPad: fuse?.residual !== undefined ? (borders.get(fuse.residual) ?? 0) : 0,
                shortcut,
                ...normalize,
                ...(s.wino ? { winograd: s.wino } : {}),
              });
              if (fuse) done.add(fuse.add);
              if (outPad > 0) borders.set(name, outPad);
              break;
            }
            y = tf.fused.conv2d({
              x: plain(s.input) as tf.Tensor4D,
              filter: s.filter,
              strides: pair(s.conv.strides),
              pad: s.conv.padding,
              bias: s.biasT,
              activation: s.relu ? "relu" : "linear",
            });
            break;
          }
          case "add": {
            if (done.has(i)) break;
            let acc = plain(s.inputs[0] ?? "");
            for (const name of s.inputs.slice(1)) acc = tf.add(acc, plain(name));
            y = s.relu ? tf.relu(acc) : acc;
            break;
          }
          case "relu":
            y = tf.relu(plain(s.input));
            break;
          case "maxpool": {
            const xIn = get(s.input) as tf.Tensor4D;
            const inPad = borders.get(s.input) ?? 0;
            const [, h0 = 0, w0 = 0, c = 0] = xIn.shape;
            const [h, w] = [h0 - 2 * inPad, w0 - 2 * inPad];
            const [k = 1, stride = 1] = [s.pool[0], s.strides[0]];
            const fits = inPad >= Math.max(convSimdBorder(w, k, stride), convSimdBorder(h, k, stride));
            if (poolRuns(i, s.input, c) && inPad > 0 && fits) {
              const outPad = borderFor(s.name, Math.ceil(h / stride), Math.ceil(w / stride), c);
              y = maxPoolSimd(xIn, k, stride, inPad, outPad);
              if (outPad > 0) borders.set(s.name, outPad);
              break;
            }
            y = tf.maxPool(plain(s.input) as tf.Tensor4D, pair(s.pool), pair(s.strides), s.padding);
            break;
          }
          case "mean":
            y = tf.mean(plain(s.input), [1, 2]);
            break;
          case "dense":
            y = tf.add(tf.matMul(plain(s.input) as tf.Tensor2D, s.kernelT), s.biasT);
            break;
        }
        if (y !== null) values.set(name, y);
        for (const input of opInputs(s)) {
          // The caller's images are the caller's.
          if (lastUse.get(input) !== i || keep.has(input) || values.get(input) === x) continue;
          values.get(input)?.dispose();
          values.delete(input);
        }
      });
      return { embedding: plain(embName) as tf.Tensor2D, logits: plain(logitsName) as tf.Tensor2D };
    });
  return {
    run: (x) => exec(x, null),
    runImages(images, start, count) {
      const size = images.size;
      if (start < 0 || count < 1 || start + count > images.count) {
        throw new RangeError(`${WHO}: images ${start}..${start + count} out of 0..${images.count}`);
      }
      if (stemFor(size) < 0) {
        const x = imageBatch(
          images,
          Array.from({ length: count }, (_, i) => start + i),
        );
        try {
          return exec(x, null);
        } finally {
          x.dispose();
        }
      }
      const px = size * size;
      let bytes = images.pixels.subarray(start * px, (start + count) * px);
      if (bytes.byteOffset % 4 !== 0 || bytes.length % 4 !== 0) {
        const aligned = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
        aligned.set(bytes);
        bytes = aligned;
      }
      const words = tf.tensor1d(new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), "int32");
      try {
        return exec(words, [count, size, size]);
      } finally {
        words.dispose();
      }
    },
    dispose() {
      tf.dispose(owned);
    },
  };
}
