import { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import {
  BLOCK,
  BR,
  BR_IF,
  END,
  F32X4_DEMOTE_F64X2_ZERO,
  F32X4_MUL,
  F32X4_SUB,
  F64X2_ADD,
  F64X2_DIV,
  F64X2_PROMOTE_LOW_F32X4,
  funcBody,
  get,
  heapF32,
  I32,
  I32_ADD,
  I32_CONST,
  I32_EQ,
  I32_GE_U,
  i8x16Shuffle,
  isShared,
  LOOP,
  memoryModule,
  SELECT,
  set,
  simdLoopPerBackend,
  simdSwitch,
  sleb,
  V128,
  V128_LOAD,
  V128_STORE,
  VOID,
  v128LoadAt,
} from "./wasm-asm";

/**
 * FusedBatchNorm (tf.batchNorm) on the wasm backend as a hand-assembled WebAssembly SIMD loop over
 * the backend's own memory. The backend's C++ kernel is a scalar loop with four wrap-around index
 * checks per element (4.8-7 ns per element on the quiet benchmark machine: 20 ms for a
 * 16x64x64x64 map); this one runs four channels at a time (1.0-1.8 ns per element, 4.2 ms;
 * bench/ml-speed/micro-bn.ts). It is bound by the two f64x2 divisions per four elements: a
 * float32 y = x * a[c] + b[c] loop ran at 0.7 ns per element, but that is not the same bits.
 *
 * The same float32 bits as the backend's kernel (the tests check it bit for bit, so gradients and
 * trained weights do not move). What that kernel computes was measured, not assumed: per element
 *   t = fl32(fl32(x - mean[c]) * scale[c]);  y = fl32(offset[c] + t / norm[c])
 * where norm[c] = fl32(sqrt(fl32(variance[c] + eps))) and the division and the addition are done in
 * float64, rounded to float32 once at the end (a float32 division before the addition differs in
 * the last bit for about a quarter of the elements). So here x - mean and * scale run as f32x4,
 * the division and addition as two f64x2 halves, then one demotion to float32. The cheaper
 * y = x * a[c] + b[c] (two float32 operations) differs in the last bits, and by more where |mean|
 * is large against the standard deviation (x * a and b cancel after rounding).
 *
 * Handled: float32 x of rank 4 (tf.batchNorm reshapes every rank to 4) whose channel count C (the
 * last axis) is a multiple of 4, with mean, variance and the optional offset and scale holding C
 * values ([C] or [1, 1, 1, C]). Everything else (C = 1 or 3, statistics of x's full shape) goes to
 * the backend's own kernel.
 */

/** The loop over the backend's memory; addresses are byte offsets there. */
export interface SimdBatchNorm {
  /**
   * y[i] for i < count (a multiple of `channels`, itself a multiple of 4) from x into out, with
   * the parameter block of batchNormParams at `params`.
   */
  run(x: number, out: number, params: number, count: number, channels: number): void;
}

/** Bytes of parameters per group of four channels: mean, scale (f32 x 4), norm, offset (f64 x 4). */
export const PARAM_GROUP_BYTES = 96;

// Parameters: x, out, params (byte offsets), bytes (4 * count), paramsEnd (end of the block).
const X = 0;
const OUT = 1;
const PARAMS = 2;
const BYTES = 3;
const PARAMS_END = 4;
// Locals: i (byte offset into x and out), q (address of the current group's parameters), t.
const I = 5;
const Q = 6;
const T = 7;

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, k) => from + k);

function body(): number[] {
  const code: number[] = [...get(PARAMS), ...set(Q)];
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(I), ...get(BYTES), I32_GE_U, BR_IF, 1);
  code.push(...get(OUT), ...get(I), I32_ADD); // the store's address
  // t = (x - mean) * scale in float32
  code.push(...get(X), ...get(I), I32_ADD, ...V128_LOAD);
  code.push(...get(Q), ...V128_LOAD, ...F32X4_SUB);
  code.push(...get(Q), ...v128LoadAt(16), ...F32X4_MUL, ...set(T));
  // low half: demote(promote(t[0..1]) / norm[0..1] + offset[0..1])
  code.push(...get(T), ...F64X2_PROMOTE_LOW_F32X4);
  code.push(...get(Q), ...v128LoadAt(32), ...F64X2_DIV);
  code.push(...get(Q), ...v128LoadAt(64), ...F64X2_ADD, ...F32X4_DEMOTE_F64X2_ZERO);
  // high half: lanes 2, 3 of t moved down first
  code.push(...get(T), ...get(T), ...i8x16Shuffle(range(8, 16)), ...F64X2_PROMOTE_LOW_F32X4);
  code.push(...get(Q), ...v128LoadAt(48), ...F64X2_DIV);
  code.push(...get(Q), ...v128LoadAt(80), ...F64X2_ADD, ...F32X4_DEMOTE_F64X2_ZERO);
  // [lo0, lo1, hi0, hi1]
  code.push(...i8x16Shuffle([...range(0, 8), ...range(16, 8)]), ...V128_STORE);
  code.push(...get(I), I32_CONST, 16, I32_ADD, ...set(I));
  // q += 96, back to the first group after the last one.
  code.push(...get(Q), I32_CONST, ...sleb(PARAM_GROUP_BYTES), I32_ADD, ...set(Q));
  code.push(...get(PARAMS), ...get(Q), ...get(Q), ...get(PARAMS_END), I32_EQ, SELECT, ...set(Q));
  code.push(BR, 0, END, END, END);
  return funcBody(
    [
      [2, I32],
      [1, V128],
    ],
    code,
  );
}

/** The module's bytes; `shared` must match the backend's memory (the threaded build's is shared). */
export function batchNormModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  return memoryModule(shared, [I32, I32, I32, I32, I32], [{ name: "bn", body: body() }]);
}

/** Instantiates the module over `memory`; null where this engine lacks wasm SIMD. */
export function makeSimdBatchNorm(memory: WebAssembly.Memory): SimdBatchNorm | null {
  const bytes = batchNormModuleBytes(isShared(memory));
  if (!WebAssembly.validate(bytes)) return null;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } });
  const bn = instance.exports.bn;
  if (typeof bn !== "function") return null;
  return {
    run(x, out, params, count, channels) {
      if (channels <= 0 || channels % 4 !== 0 || count % channels !== 0) {
        throw new Error("SIMD batch norm: channels must be a positive multiple of 4 dividing count");
      }
      const end = params + (channels / 4) * PARAM_GROUP_BYTES;
      Reflect.apply(bn, undefined, [x, out, params, count * 4, end]);
    },
  };
}

/**
 * The parameter block of the loop, per group of four channels: their mean and scale (float32),
 * norm = sqrt(variance + eps) rounded to float32 as the backend's kernel rounds it, and offset
 * (both as float64). A missing scale is 1 and a missing offset 0 (the backend's defaults).
 */
export function batchNormParams(
  mean: Float32Array,
  variance: Float32Array,
  offset: Float32Array | null,
  scale: Float32Array | null,
  varianceEpsilon: number,
): Uint8Array {
  const c = mean.length;
  if (c % 4 !== 0) throw new Error("batchNormParams: channels must be a multiple of 4");
  const f = Math.fround;
  const eps = f(varianceEpsilon);
  const block = new ArrayBuffer((c / 4) * PARAM_GROUP_BYTES);
  const f32 = new Float32Array(block);
  const f64 = new Float64Array(block);
  for (let ch = 0; ch < c; ch++) {
    const group = ch >> 2;
    const lane = ch & 3;
    f32[group * 24 + lane] = mean[ch] ?? 0;
    f32[group * 24 + 4 + lane] = scale === null ? 1 : (scale[ch] ?? 1);
    // A double sum or square root of float32 values, rounded once, is the float32 result.
    f64[group * 12 + 4 + lane] = f(Math.sqrt(f((variance[ch] ?? 0) + eps)));
    f64[group * 12 + 8 + lane] = offset === null ? 0 : (offset[ch] ?? 0);
  }
  return new Uint8Array(block);
}

/** Whether t holds one value per channel: shape [C] or [1, ..., 1, C]. */
function perChannel(t: tf.TensorInfo | undefined, c: number): boolean {
  if (t === undefined || t.dtype !== "float32") return false;
  const s = t.shape;
  return s[s.length - 1] === c && s.slice(0, -1).every((d) => d === 1);
}

const kernelSwitch = simdSwitch();

/** How many FusedBatchNorm calls the SIMD loop has run (tests check which path was taken). */
export const batchNormSimdRuns = kernelSwitch.runs;

const simdFor = simdLoopPerBackend(makeSimdBatchNorm);

const heap = (backend: BackendWasm, t: tf.TensorInfo): Float32Array => heapF32(backend, t, "FusedBatchNorm");

/** The FusedBatchNorm kernel: the SIMD loop where it applies, `fallback` (the backend's) elsewhere. */
export const fusedBatchNormKernel =
  (fallback: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    if (!kernelSwitch.isOn() || !(args.backend instanceof BackendWasm)) return fallback(args);
    const { x, mean, variance, offset, scale } = args.inputs;
    const eps = args.attrs?.varianceEpsilon;
    if (x === undefined || x.dtype !== "float32" || x.shape.length !== 4 || typeof eps !== "number") {
      return fallback(args);
    }
    const c = x.shape[3] ?? 0;
    const count = tf.util.sizeFromShape(x.shape);
    if (c === 0 || c % 4 !== 0 || count === 0) return fallback(args);
    if (!perChannel(mean, c) || !perChannel(variance, c)) return fallback(args);
    // Absent offset and scale may come as undefined or null.
    const off = offset ?? null;
    const sc = scale ?? null;
    if ((off !== null && !perChannel(off, c)) || (sc !== null && !perChannel(sc, c))) return fallback(args);
    const backend = args.backend;
    const simd = simdFor(backend);
    if (simd === null || mean === undefined || variance === undefined) return fallback(args);
    const params = batchNormParams(
      heap(backend, mean),
      heap(backend, variance),
      off === null ? null : heap(backend, off),
      sc === null ? null : heap(backend, sc),
      eps,
    );
    const out = backend.makeOutput([...x.shape], "float32");
    // The block goes into the heap as a temporary tensor (its bytes copied as they are).
    const block = backend.makeOutput(
      [params.length / 4],
      "float32",
      undefined,
      new Float32Array(params.buffer, params.byteOffset, params.byteLength / 4),
    );
    try {
      // Views after the last allocation: one can grow (and replace) the heap buffer.
      const at = heap(backend, block).byteOffset;
      simd.run(heap(backend, x).byteOffset, heap(backend, out).byteOffset, at, count, c);
      kernelSwitch.ran();
    } finally {
      backend.disposeData(block.dataId, true);
    }
    return out;
  };

/**
 * Whether FusedBatchNorm on wasm runs the SIMD loop (on, the default) or the backend's own kernel
 * (off; tests and A/B benchmarks). Both give the same bits. The kernel itself is registered with
 * the other replacements (setWasmJsKernels in wasm-js-kernels.ts).
 */
export const setBatchNormSimd = kernelSwitch.set;
