import { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type * as tf from "@tensorflow/tfjs-core";
import {
  BLOCK,
  BR,
  BR_IF,
  END,
  F32X4_DEMOTE_F64X2_ZERO,
  F64X2_ADD,
  F64X2_PROMOTE_LOW_F32X4,
  funcBody,
  get,
  heapF32,
  I32,
  I32_ADD,
  I32_CONST,
  I32_GE_U,
  i8x16Shuffle,
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
  V128_STORE,
  V128_ZERO,
  VOID,
  v128LoadAt,
  v128StoreAt,
} from "./wasm-asm";

/**
 * Sum / Mean of an [outer, reduce, inner] float32 view over its middle axis (batch-norm statistics
 * and gradients: [N, H, W, C] over N, H, W; global average pooling: over H, W) as a hand-assembled
 * WebAssembly SIMD loop over the wasm backend's own memory, four channels at a time.
 *
 * The same bits as reduceMiddle (wasm-js-kernels.ts), the blocked JS loop it replaces where
 * inner % 4 == 0: each channel is summed in float64 in the same order (rows in blocks of
 * max(1, floor(4096 / inner)); in a block, even rows into s0 and odd rows into s1, the block then
 * added as (acc + s0) + s1), each float32 widened exactly to float64 (f64x2.promote_low_f32x4 of
 * lanes 0, 1 and of lanes 2, 3 after a shuffle), and acc * scale rounded to float32 once at the end
 * (scale = 1, or 1 / reduce for Mean, as in the JS). The per-channel accumulators between blocks
 * live in a scratch block of inner float64 values (a temporary heap tensor).
 */

/** The loop over the backend's memory; addresses are byte offsets there. */
export interface SimdReduce {
  /**
   * out[o, c] = fl32(scale * sum_r x[o, r, c]) for the [outer, reduce, inner] view at `x`, with
   * `acc` the address of 8 * inner scratch bytes; inner must be a positive multiple of 4.
   */
  run(x: number, out: number, acc: number, outer: number, reduce: number, inner: number, scale: number): void;
}

// Opcodes the shared helpers do not have.
const F64 = 0x7c;
const I32_GT_U = 0x4b;
const F64X2_SPLAT = simd(0x14);
const F64X2_MUL = simd(0xf2);

// Parameters: x, out, acc (byte offsets), outer (count), slab (bytes per outer slice: reduce * row),
// row (bytes per row: 4 * inner), blockBytes (bytes per block of rows), scale (f64).
const X = 0;
const OUT = 1;
const ACC = 2;
const OUTER = 3;
const SLAB = 4;
const ROW = 5;
const BLOCK_BYTES = 6;
const SCALE = 7;
// Locals (i32): o, base (start of the slice), slabEnd, b0 / b1 (the block's rows), c (byte offset
// of the channel group in a row), p (the current row's address), end (b1 + c), row2 (2 * row).
const O = 8;
const BASE = 9;
const SLAB_END = 10;
const B0 = 11;
const B1 = 12;
const C = 13;
const P = 14;
const END_P = 15;
const ROW2 = 16;
// Locals (v128): the four float64 pair accumulators, the loaded vector, scale splat.
const S0L = 17;
const S0H = 18;
const S1L = 19;
const S1H = 20;
const V = 21;
const SC = 22;

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, k) => from + k);
/** Lanes 2, 3 of the vector on the stack moved down (for promote_low). */
const HIGH = i8x16Shuffle(range(8, 16));

/** s_lo += promote(v[0..1]); s_hi += promote(v[2..3]) for v = v128.load(address on the stack). */
function accumulate(lo: number, hi: number): number[] {
  return [
    ...V128_LOAD,
    ...set(V),
    ...get(lo),
    ...get(V),
    ...F64X2_PROMOTE_LOW_F32X4,
    ...F64X2_ADD,
    ...set(lo),
    ...get(hi),
    ...get(V),
    ...get(V),
    ...HIGH,
    ...F64X2_PROMOTE_LOW_F32X4,
    ...F64X2_ADD,
    ...set(hi),
  ];
}

/** acc + 2 * c: the channel group's two f64x2 accumulators. */
const accAddress = (): number[] => [...get(ACC), ...get(C), ...get(C), I32_ADD, I32_ADD];

function body(): number[] {
  const code: number[] = [];
  code.push(...get(SCALE), ...F64X2_SPLAT, ...set(SC));
  code.push(...get(ROW), ...get(ROW), I32_ADD, ...set(ROW2));
  code.push(...get(X), ...set(BASE));
  // for o < outer
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(O), ...get(OUTER), I32_GE_U, BR_IF, 1);
  // acc = 0
  code.push(I32_CONST, 0, ...set(C));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(C), ...get(ROW), I32_GE_U, BR_IF, 1);
  code.push(...accAddress(), ...V128_ZERO, ...V128_STORE);
  code.push(...accAddress(), ...V128_ZERO, ...v128StoreAt(16));
  code.push(...get(C), I32_CONST, 16, I32_ADD, ...set(C), BR, 0, END, END);
  // for each block of rows [b0, b1)
  code.push(...get(BASE), ...get(SLAB), I32_ADD, ...set(SLAB_END));
  code.push(...get(BASE), ...set(B0));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(B0), ...get(SLAB_END), I32_GE_U, BR_IF, 1);
  // b1 = min(b0 + blockBytes, slabEnd)
  code.push(...get(B0), ...get(BLOCK_BYTES), I32_ADD, ...set(B1));
  code.push(...get(SLAB_END), ...get(B1), ...get(B1), ...get(SLAB_END), I32_GT_U, SELECT, ...set(B1));
  // for each group of four channels
  code.push(I32_CONST, 0, ...set(C));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(C), ...get(ROW), I32_GE_U, BR_IF, 1);
  code.push(...get(B0), ...get(C), I32_ADD, ...set(P));
  code.push(...get(B1), ...get(C), I32_ADD, ...set(END_P));
  for (const s of [S0L, S0H, S1L, S1H]) code.push(...V128_ZERO, ...set(s));
  // two rows at a time while p + row < end
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(P), ...get(ROW), I32_ADD, ...get(END_P), I32_GE_U, BR_IF, 1);
  code.push(...get(P), ...accumulate(S0L, S0H));
  code.push(...get(P), ...get(ROW), I32_ADD, ...accumulate(S1L, S1H));
  code.push(...get(P), ...get(ROW2), I32_ADD, ...set(P), BR, 0, END, END);
  // the odd last row
  code.push(BLOCK, VOID);
  code.push(...get(P), ...get(END_P), I32_GE_U, BR_IF, 0);
  code.push(...get(P), ...accumulate(S0L, S0H));
  code.push(END);
  // acc = (acc + s0) + s1
  code.push(...accAddress(), ...accAddress(), ...V128_LOAD, ...get(S0L), ...F64X2_ADD);
  code.push(...get(S1L), ...F64X2_ADD, ...V128_STORE);
  code.push(...accAddress(), ...accAddress(), ...v128LoadAt(16), ...get(S0H), ...F64X2_ADD);
  code.push(...get(S1H), ...F64X2_ADD, ...v128StoreAt(16));
  code.push(...get(C), I32_CONST, 16, I32_ADD, ...set(C), BR, 0, END, END);
  code.push(...get(B1), ...set(B0), BR, 0, END, END);
  // out[o, c..c+3] = fl32(acc * scale)
  code.push(I32_CONST, 0, ...set(C));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(C), ...get(ROW), I32_GE_U, BR_IF, 1);
  code.push(...get(OUT), ...get(C), I32_ADD);
  code.push(...accAddress(), ...V128_LOAD, ...get(SC), ...F64X2_MUL, ...F32X4_DEMOTE_F64X2_ZERO);
  code.push(...accAddress(), ...v128LoadAt(16), ...get(SC), ...F64X2_MUL, ...F32X4_DEMOTE_F64X2_ZERO);
  code.push(...i8x16Shuffle([...range(0, 8), ...range(16, 8)]), ...V128_STORE);
  code.push(...get(C), I32_CONST, 16, I32_ADD, ...set(C), BR, 0, END, END);
  // next slice
  code.push(...get(OUT), ...get(ROW), I32_ADD, ...set(OUT));
  code.push(...get(SLAB_END), ...set(BASE));
  code.push(...get(O), I32_CONST, 1, I32_ADD, ...set(O), BR, 0, END, END);
  code.push(END);
  return funcBody(
    [
      [9, I32],
      [6, V128],
    ],
    code,
  );
}

/** The module's bytes; `shared` must match the backend's memory (the threaded build's is shared). */
export function reduceModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  return memoryModule(shared, [I32, I32, I32, I32, I32, I32, I32, F64], [{ name: "reduce", body: body() }]);
}

/** Rows per block of the JS loop (reduceMiddle); the same blocks give the same bits. */
export const blockRows = (inner: number): number => Math.max(1, Math.floor(4096 / inner));

/** Instantiates the module over `memory`; null where this engine lacks wasm SIMD. */
export function makeSimdReduce(memory: WebAssembly.Memory): SimdReduce | null {
  const bytes = reduceModuleBytes(isShared(memory));
  if (!WebAssembly.validate(bytes)) return null;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } });
  const reduce = instance.exports.reduce;
  if (typeof reduce !== "function") return null;
  return {
    run(x, out, acc, outer, rows, inner, scale) {
      if (inner <= 0 || inner % 4 !== 0)
        throw new Error("SIMD reduce: inner must be a positive multiple of 4");
      const row = inner * 4;
      const args = [x, out, acc, outer, rows * row, row, blockRows(inner) * row, scale];
      Reflect.apply(reduce, undefined, args);
    },
  };
}

const kernelSwitch = simdSwitch();

/** How many reductions the SIMD loop has run (tests check which path was taken). */
export const reduceSimdRuns = kernelSwitch.runs;

const simdFor = simdLoopPerBackend(makeSimdReduce);

const heapOffset = (backend: BackendWasm, t: tf.TensorInfo): number =>
  heapF32(backend, t, "SIMD reduce").byteOffset;

/**
 * Reduces float32 x, seen as [outer, reduce, inner], over its middle axis into out (float32,
 * outer * inner values) with the SIMD loop; false (nothing written) where it does not apply:
 * switched off, not the wasm backend, inner not a multiple of 4, or no wasm SIMD here. The caller
 * then runs reduceMiddle, which gives the same bits.
 */
export function reduceMiddleSimd(
  backend: unknown,
  x: tf.TensorInfo,
  out: tf.TensorInfo,
  view: { outer: number; reduce: number; inner: number },
  scale: number,
): boolean {
  const { outer, reduce, inner } = view;
  if (
    !kernelSwitch.isOn() ||
    !(backend instanceof BackendWasm) ||
    x.dtype !== "float32" ||
    out.dtype !== "float32"
  ) {
    return false;
  }
  if (inner <= 0 || inner % 4 !== 0 || reduce <= 0 || outer <= 0) return false;
  const s = simdFor(backend);
  if (s === null) return false;
  // The scratch accumulators as a temporary tensor (8 bytes per channel).
  const acc = backend.makeOutput([2 * inner], "float32");
  try {
    // Offsets after the last allocation: one can grow (and replace) the heap buffer.
    s.run(
      heapOffset(backend, x),
      heapOffset(backend, out),
      heapOffset(backend, acc),
      outer,
      reduce,
      inner,
      scale,
    );
    kernelSwitch.ran();
  } finally {
    backend.disposeData(acc.dataId, true);
  }
  return true;
}

/**
 * Whether Sum / Mean over a middle axis on wasm run the SIMD loop (on, the default) or the blocked
 * JS loop reduceMiddle (off; tests and A/B benchmarks). Both give the same bits.
 */
export const setReduceSimd = kernelSwitch.set;
