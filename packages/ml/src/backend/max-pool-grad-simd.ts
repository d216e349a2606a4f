import { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import {
  BLOCK,
  BR,
  BR_IF,
  END,
  F32_ADD,
  F32_LOAD,
  F32_STORE,
  funcBody,
  get,
  heapF32,
  I32,
  I32_ADD,
  I32_CONST,
  I32_GE_U,
  I32_MUL,
  I32_SUB,
  IF,
  isShared,
  LOOP,
  memoryModule,
  SELECT,
  set,
  simd,
  simdLoopPerBackend,
  simdSwitch,
  V128,
  V128_LOAD,
  VOID,
} from "./wasm-asm";

/**
 * MaxPoolGrad (the gradient of tf.maxPool, NHWC float32) on the wasm backend as a hand-assembled
 * WebAssembly SIMD loop over the backend's own memory, four channels at a time. Per output pixel
 * and group of four channels it scans the window's taps in row-major order keeping the best value
 * (f32x4) and its address (i32x4): f32x4.gt then v128.bitselect, so a tap replaces the best only
 * when strictly greater and the FIRST maximum wins (the first tap starts it). Then dy goes into dx
 * at the four addresses, one lane at a time (windows overlap). The same rule, the same order of
 * additions and so the same bits as maxPoolBackprop in wasm-js-kernels.ts (the JS loop this
 * replaces; the tests compare them bit for bit), NaN included: a NaN first tap keeps its window
 * (nothing compares greater than NaN), a later NaN never wins (NaN > v is false).
 *
 * Windows are clamped to the image as in the JS loop (the padding taps never win); the loop over
 * images and output rows is in JS, one call into the module per output row.
 *
 * Handled: float32 x and dy of rank 4 whose channel count is a multiple of 4, no dilation.
 * Everything else goes to the fallback (the JS loop, or the backend's kernel).
 */

// Instructions this module needs beyond wasm-asm.ts.
const I32_LT_S = 0x48;
const I32_GT_S = 0x4a;
const LOCAL_TEE = 0x22;
const I32X4_SPLAT = simd(0x11);
const I32X4_ADD = simd(0xae);
const F32X4_GT = simd(0x44);
const V128_BITSELECT = simd(0x52);
const i32x4ExtractLane = (k: number): number[] => [...simd(0x1b), k];
const f32x4ExtractLane = (k: number): number[] => [...simd(0x1f), k];
/** v128.const i32x4 0, 4, 8, 12: the byte offsets of a group's four channels. */
const LANE_OFFSETS = [...simd(0x0c), 0, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 12, 0, 0, 0];
const tee = (k: number): number[] => [LOCAL_TEE, k];

// Parameters (i32): the image's first byte in x, dx's address minus x's (bytes, wrapping), the
// output row's first byte in dy, the row's clamped window rows [yLo, yHi), outW, strideW, padLeft,
// filterW, inW, C.
const X_IMG = 0;
const DX_DELTA = 1;
const DY_ROW = 2;
const Y_LO = 3;
const Y_HI = 4;
const OUT_W = 5;
const SW = 6;
const LEFT = 7;
const FW = 8;
const IN_W = 9;
const C = 10;
// i32 locals.
const OX = 11;
const X_LO = 12;
const X_HI = 13;
const G = 14; // byte offset of the channel group inside a pixel
const Y = 15;
const XX = 16;
const P = 17; // address of the current tap's group
const A = 18; // scatter address
const DYP = 19; // dy's current pixel
const ROW = 20; // bytes per image row
const PIX = 21; // bytes per pixel
const X0 = 22;
const T = 23;
const N_I32_LOCALS = 13;
// v128 locals.
const BEST_V = 24;
const BEST_A = 25;
const V = 26;
const MASK = 27;
const LANES = 28;
const DYV = 29;
const N_V128_LOCALS = 6;

function body(): number[] {
  const c: number[] = [];
  // pix = 4C; row = inW * pix; lanes; dyp = dyRow; ox = 0 (locals start at 0).
  c.push(...get(C), I32_CONST, 4, I32_MUL, ...tee(PIX), ...get(IN_W), I32_MUL, ...set(ROW));
  c.push(...LANE_OFFSETS, ...set(LANES));
  c.push(...get(DY_ROW), ...set(DYP));
  c.push(BLOCK, VOID, LOOP, VOID); // ox loop: depth 0 = loop, 1 = block
  c.push(...get(OX), ...get(OUT_W), I32_GE_U, BR_IF, 1);
  // x0 = ox * sw - left; xLo = max(0, x0); xHi = min(inW, x0 + fw)
  c.push(...get(OX), ...get(SW), I32_MUL, ...get(LEFT), I32_SUB, ...set(X0));
  c.push(...get(X0), I32_CONST, 0, ...get(X0), I32_CONST, 0, I32_GT_S, SELECT, ...set(X_LO));
  c.push(...get(X0), ...get(FW), I32_ADD, ...tee(T), ...get(IN_W), ...get(T), ...get(IN_W), I32_LT_S);
  c.push(SELECT, ...set(X_HI));
  // if (xLo < xHi): every group of the pixel (the JS side calls only for yLo < yHi)
  c.push(...get(X_LO), ...get(X_HI), I32_LT_S, IF, VOID);
  c.push(I32_CONST, 0, ...set(G));
  c.push(BLOCK, VOID, LOOP, VOID); // g loop
  c.push(...get(G), ...get(PIX), I32_GE_U, BR_IF, 1);
  // The first tap starts the best: p = xImg + yLo * row + xLo * pix + g
  c.push(...get(X_IMG), ...get(Y_LO), ...get(ROW), I32_MUL, I32_ADD);
  c.push(...get(X_LO), ...get(PIX), I32_MUL, I32_ADD, ...get(G), I32_ADD, ...tee(P));
  c.push(...V128_LOAD, ...set(BEST_V));
  c.push(...get(P), ...I32X4_SPLAT, ...get(LANES), ...I32X4_ADD, ...set(BEST_A));
  c.push(...get(Y_LO), ...set(Y));
  c.push(LOOP, VOID); // y loop
  c.push(...get(X_IMG), ...get(Y), ...get(ROW), I32_MUL, I32_ADD);
  c.push(...get(X_LO), ...get(PIX), I32_MUL, I32_ADD, ...get(G), I32_ADD, ...set(P));
  c.push(...get(X_LO), ...set(XX));
  c.push(LOOP, VOID); // x loop
  // mask = v > best; best = mask ? v : best; bestA = mask ? p + lanes : bestA
  c.push(...get(P), ...V128_LOAD, ...tee(V), ...get(BEST_V), ...F32X4_GT, ...set(MASK));
  c.push(...get(V), ...get(BEST_V), ...get(MASK), ...V128_BITSELECT, ...set(BEST_V));
  c.push(...get(P), ...I32X4_SPLAT, ...get(LANES), ...I32X4_ADD, ...get(BEST_A), ...get(MASK));
  c.push(...V128_BITSELECT, ...set(BEST_A));
  c.push(...get(P), ...get(PIX), I32_ADD, ...set(P));
  c.push(...get(XX), I32_CONST, 1, I32_ADD, ...tee(XX), ...get(X_HI), I32_LT_S, BR_IF, 0);
  c.push(END); // x loop
  c.push(...get(Y), I32_CONST, 1, I32_ADD, ...tee(Y), ...get(Y_HI), I32_LT_S, BR_IF, 0);
  c.push(END); // y loop
  // dx[best lane k] += dy lane k, in lane order
  c.push(...get(DYP), ...get(G), I32_ADD, ...V128_LOAD, ...set(DYV));
  for (let k = 0; k < 4; k++) {
    c.push(...get(BEST_A), ...i32x4ExtractLane(k), ...get(DX_DELTA), I32_ADD, ...tee(A));
    c.push(...get(A), ...F32_LOAD, ...get(DYV), ...f32x4ExtractLane(k), F32_ADD, ...F32_STORE);
  }
  c.push(...get(G), I32_CONST, 16, I32_ADD, ...set(G));
  c.push(BR, 0, END, END); // g loop
  c.push(END); // if
  c.push(...get(DYP), ...get(PIX), I32_ADD, ...set(DYP));
  c.push(...get(OX), I32_CONST, 1, I32_ADD, ...set(OX));
  c.push(BR, 0, END, END); // ox loop
  c.push(END);
  return funcBody(
    [
      [N_I32_LOCALS, I32],
      [N_V128_LOCALS, V128],
    ],
    c,
  );
}

/** The module's bytes; `shared` must match the backend's memory (the threaded build's is shared). */
export function maxPoolGradModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  return memoryModule(
    shared,
    Array.from({ length: 11 }, () => I32),
    [{ name: "row", body: body() }],
  );
}

/** The loop over the backend's memory; addresses are byte offsets there. */
export interface SimdMaxPoolGrad {
  /**
   * dx of a max pool over x (NHWC, C a multiple of 4, no dilation), given dy; dx must hold zeros
   * (the loop adds into it).
   */
  run(x: number, dy: number, dx: number, info: tf.backend_util.Conv2DInfo): void;
}

/** Instantiates the module over `memory`; null where this engine lacks wasm SIMD. */
export function makeSimdMaxPoolGrad(memory: WebAssembly.Memory): SimdMaxPoolGrad | null {
  const bytes = maxPoolGradModuleBytes(isShared(memory));
  if (!WebAssembly.validate(bytes)) return null;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } });
  const row = instance.exports.row;
  if (typeof row !== "function") return null;
  return {
    run(x, dy, dx, info) {
      const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
      if (c <= 0 || c % 4 !== 0) throw new Error("SIMD MaxPoolGrad: channels must be a multiple of 4");
      if (info.dilationHeight !== 1 || info.dilationWidth !== 1)
        throw new Error("SIMD MaxPoolGrad: no dilation");
      const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
      const top = info.padInfo.top;
      const left = info.padInfo.left;
      const imgBytes = inHeight * inWidth * c * 4;
      const dyRowBytes = outWidth * c * 4;
      // Wrapping i32 difference: the module adds it back with i32.add.
      const delta = (dx - x) | 0;
      for (let b = 0; b < batchSize; b++) {
        const img = x + b * imgBytes;
        for (let oy = 0; oy < outHeight; oy++) {
          const y0 = oy * sh - top;
          const yLo = Math.max(0, y0);
          const yHi = Math.min(inHeight, y0 + fh);
          if (yLo >= yHi) continue;
          const dyRow = dy + (b * outHeight + oy) * dyRowBytes;
          Reflect.apply(row, undefined, [img, delta, dyRow, yLo, yHi, outWidth, sw, left, fw, inWidth, c]);
        }
      }
    },
  };
}

const kernelSwitch = simdSwitch();

/** How many MaxPoolGrad calls the SIMD loop has run (tests check which path was taken). */
export const maxPoolGradSimdRuns = kernelSwitch.runs;

const simdFor = simdLoopPerBackend(makeSimdMaxPoolGrad);

const heap = (backend: BackendWasm, t: tf.TensorInfo): Float32Array => heapF32(backend, t, "MaxPoolGrad");

function pairOf(v: unknown): [number, number] | null {
  if (typeof v === "number") return [v, v];
  if (Array.isArray(v) && typeof v[0] === "number" && typeof v[1] === "number") return [v[0], v[1]];
  return null;
}

/**
 * The MaxPoolGrad kernel: the SIMD loop where it applies, `fallback` elsewhere (registered in
 * wasm-js-kernels.ts with the JS loop as the fallback).
 */
export const maxPoolGradSimdKernel =
  (fallback: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    if (!kernelSwitch.isOn() || !(args.backend instanceof BackendWasm)) return fallback(args);
    const { dy, input } = args.inputs;
    if (dy === undefined || input === undefined) return fallback(args);
    if (input.dtype !== "float32" || dy.dtype !== "float32" || input.shape.length !== 4)
      return fallback(args);
    const [n, h, w, c] = input.shape;
    if (n === undefined || h === undefined || w === undefined || c === undefined) return fallback(args);
    if (c === 0 || c % 4 !== 0) return fallback(args);
    const attrs = args.attrs ?? {};
    const { pad, dimRoundingMode: r } = attrs;
    const filterSize = pairOf(attrs.filterSize);
    const strides = pairOf(attrs.strides);
    const padding =
      typeof pad === "number" ? pad : pad === "same" ? "same" : pad === "valid" ? "valid" : null;
    if (padding === null || filterSize === null || strides === null) return fallback(args);
    const rounding = r === "floor" ? "floor" : r === "round" ? "round" : r === "ceil" ? "ceil" : undefined;
    const info = tf.backend_util.computePool2DInfo([n, h, w, c], filterSize, strides, 1, padding, rounding);
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return fallback(args);
    if (tf.util.sizeFromShape(dy.shape) !== info.batchSize * info.outHeight * info.outWidth * c)
      return fallback(args);
    const backend = args.backend;
    const s = simdFor(backend);
    if (s === null) return fallback(args);
    const dx = backend.makeOutput([...input.shape], "float32");
    // Views after the allocation: it can grow (and replace) the heap buffer.
    const dxView = heap(backend, dx);
    dxView.fill(0);
    if (dxView.length > 0) {
      s.run(heap(backend, input).byteOffset, heap(backend, dy).byteOffset, dxView.byteOffset, info);
    }
    kernelSwitch.ran();
    return dx;
  };

/**
 * Whether MaxPoolGrad on wasm runs the SIMD loop (on, the default) or the JS loop (off; tests
 * and A/B benchmarks). Both give the same bits.
 */
export const setMaxPoolGradSimd = kernelSwitch.set;
