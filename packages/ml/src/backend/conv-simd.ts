/**
 * A k x k "same" convolution (k odd, stride 1 or 2) with bias and optional ReLU as one
 * hand-assembled WebAssembly SIMD loop, for inference (the fused plan in export/fused-inference.ts):
 * the encoder's 3 x 3 layers, its 7 x 7 / 2 stem and its 1 x 1 / 2 shortcuts.
 *
 * Why: XNNPACK's convolution in the TF.js wasm backend runs the encoder's small-channel 3x3 layers
 * (16-64 channels) at 12-18 GFLOP/s on one core here, while a 4 x 8 register tile of wasm SIMD
 * multiply-adds runs at 19-31 GFLOP/s, and at 1.4-1.6 times that with relaxed SIMD's fused
 * multiply-add (`bench/ml-speed/micro-gemm.ts`, docs/benchmarks.md).
 *
 * The loop: for each output row it computes tiles of 4 output pixels x 8 output channels in 8
 * f32x4 accumulators that start at the bias. For one kernel row ky, the k x C inputs under an output
 * pixel are contiguous in NHWC (kx, then channel), and so are the packed weights
 * ([Co/8][ky][kx][ci][8]), so each kernel row is one run of kC multiply-adds: per step, 4 splat loads
 * (the 4 pixels, stride x C apart), 2 weight loads, 8 multiply-adds. C, Co, k and the stride are
 * constants of the module (one module per layer shape, cached), so every load has a static offset.
 *
 * Maps may carry a zero border: a layer reads a bordered input in place and writes its output with
 * the border its readers need, so between loop layers nothing is padded or copied (an unbordered
 * input, such as the images, is copied into a bordered buffer once, normalized on the way, from
 * floats or from 8-bit pixels). The output stage can add a residual map before the ReLU, and a 1 x 1
 * projection shortcut of another map can be summed into the same accumulators (a residual block's
 * second convolution and its shortcut in one pass). Rows are independent, so with a threaded backend
 * the calling thread and helper threads (conv-pool.ts) claim chunks of them. A max-pool loop for
 * non-negative bordered maps (the large stem's) shares the row machinery (end of this file).
 *
 * 3 x 3 stride-1 layers given Winograd weights run as Winograd F(2 x 2, 3 x 3) instead (16
 * multiply-adds per 2 x 2 output tile and channel pair instead of 36; 1.3-1.8x the direct loop per
 * layer here), with the same borders, residual and ReLU; a projection shortcut then runs as a
 * second pass adding into the output.
 */
import { BackendWasm, getThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import { RowPool } from "./conv-pool";
import {
  BLOCK,
  BR,
  BR_IF,
  backendMemory,
  CALL,
  END,
  F32,
  F32_ADD,
  F32_CONVERT_I32_U,
  F32_LOAD,
  F32_MUL,
  F32_STORE,
  F32X4_ADD,
  F32X4_CONVERT_I32X4_U,
  F32X4_MAX,
  F32X4_MUL,
  F32X4_RELAXED_MADD,
  F32X4_SPLAT,
  F32X4_SUB,
  funcBody,
  get,
  heapF32,
  I32,
  I32_ADD,
  I32_CONST,
  I32_DIV_U,
  I32_EQ,
  I32_GE_U,
  I32_GT_U,
  I32_LOAD8_U,
  I32_LT_U,
  I32_MUL,
  I32_NE,
  I32_SUB,
  I32X4_EXTEND_HIGH_I16X8_U,
  I32X4_EXTEND_LOW_I16X8_U,
  IF,
  isShared,
  LOCAL_TEE,
  LOOP,
  load32SplatAt,
  memoryModule,
  SELECT,
  set,
  simdSwitch,
  sleb,
  uleb,
  V128,
  V128_LOAD8X8_U,
  V128_ZERO,
  VOID,
  v128LoadAt,
  v128StoreAt,
} from "./wasm-asm";
import { registerWasmKernel } from "./wasm-js-kernels";

export const CONV_SIMD = "XrayConvSimd";

// Parameters of `row` (one output row; function 0 of the module).
const IN = 0; // address of the input row under the kernel's top row for output row y
const WP = 1; // packed weights
const BIAS = 2;
const OUT = 3; // address of output row y
const W = 4; // output width (a multiple of 4)
const ROW_BYTES = 5; // bytes from one input row to the next
const RELU = 6;
const RES = 7; // address of the residual's row y (added before the ReLU), or 0 for none
const IN2 = 8; // a 1 x 1 shortcut's input pixel under output pixel (y, 0) (modules with one)
const WP2 = 9; // the shortcut's packed weights [Co/8][C1][8]
const N_PARAMS = 10;
// i32 locals
const CB = 10;
const WB = 11;
const BB = 12;
const X0 = 13;
const PA = 14;
const PB = 15;
const PA_END = 16;
const KY = 17;
const ROWK = 18;
const OUTP = 19;
const DELTA = 20; // RES - OUT
const ROWK2 = 21;
const WB2 = 22;
const N_I32 = 13;
// v128 locals
const ACC = 23; // 8 accumulators: row r (pixel), half h (4 channels) at ACC + 2r + h
const B0 = 31; // and B0 + 1 (32): the step's 8 weights (tileRun)
const A = 33;
const ZERO = 34;
const N_V128 = 12;

/**
 * A 1 x 1 convolution summed into the same output (a residual block's projection shortcut): its
 * C1 input channels, read at stride S1, are more multiply-adds into the same accumulators.
 */
export interface ConvShortcutShape {
  c1: number;
  s1: number;
}

/**
 * One run of the 4 x 8 register tile, as a loop from PA to PA_END: per step, 8 weights at PB (two
 * f32x4, into locals b and b + 1), one value of each of 4 pixels `pixelStep` floats apart at PA
 * (splat into local a), 8 multiply-adds into the accumulators acc .. acc + 7 (pixel r, half h at
 * acc + 2r + h); then PA += 4 bytes, PB += 32. The direct loop's kernel rows and the Winograd
 * products both run it.
 */
function tileRun(
  code: number[],
  l: { pa: number; pb: number; paEnd: number; acc: number; b: number; a: number },
  pixelStep: number,
  fma: boolean,
): void {
  const inc = (local: number, n: number) =>
    code.push(...get(local), I32_CONST, ...sleb(n), I32_ADD, ...set(local));
  code.push(LOOP, VOID);
  code.push(...get(l.pb), ...v128LoadAt(0), ...set(l.b), ...get(l.pb), ...v128LoadAt(16), ...set(l.b + 1));
  for (let r = 0; r < 4; r++) {
    code.push(...get(l.pa), ...load32SplatAt(4 * r * pixelStep), ...set(l.a));
    for (let h = 0; h < 2; h++) {
      const acc = l.acc + 2 * r + h;
      if (fma) code.push(...get(l.a), ...get(l.b + h), ...get(acc), ...F32X4_RELAXED_MADD, ...set(acc));
      else code.push(...get(acc), ...get(l.a), ...get(l.b + h), ...F32X4_MUL, ...F32X4_ADD, ...set(acc));
    }
  }
  inc(l.pa, 4);
  inc(l.pb, 32);
  code.push(...get(l.pa), ...get(l.paEnd), I32_NE, BR_IF, 0, END);
}

function rowBody(
  c: number,
  co: number,
  k: number,
  stride: number,
  fma: boolean,
  shortcut: ConvShortcutShape | null,
): number[] {
  if (co % 8 !== 0) throw new Error("conv loop: output channels must be a multiple of 8");
  const run = k * c; // multiply-add steps per kernel row
  const code: number[] = [];
  const addConst = (local: number, n: number) =>
    code.push(...get(local), I32_CONST, ...sleb(n), I32_ADD, ...set(local));
  code.push(...V128_ZERO, ...set(ZERO));
  code.push(...get(RES), ...get(OUT), I32_SUB, ...set(DELTA));
  code.push(I32_CONST, 0, ...set(CB), ...get(WP), ...set(WB), ...get(BIAS), ...set(BB));
  code.push(...get(WP2), ...set(WB2));
  code.push(LOOP, VOID); // output-channel blocks
  code.push(I32_CONST, 0, ...set(X0), ...get(IN), ...set(ROWK), ...get(IN2), ...set(ROWK2));
  code.push(...get(OUT), ...get(CB), I32_CONST);
  code.push(...sleb(32), I32_MUL, I32_ADD, ...set(OUTP));
  code.push(LOOP, VOID); // 4-pixel tiles along the row
  for (let r = 0; r < 4; r++)
    for (let h = 0; h < 2; h++) code.push(...get(BB), ...v128LoadAt(16 * h), ...set(ACC + 2 * r + h));
  code.push(...get(ROWK), ...set(PA), ...get(WB), ...set(PB), I32_CONST, 0, ...set(KY));
  code.push(LOOP, VOID); // kernel rows
  code.push(...get(PA), I32_CONST, ...sleb(run * 4), I32_ADD, ...set(PA_END));
  // The k x C run. Unrolling it 2, 4 or 8 times made the loop 1.5-2.5x slower in V8 (measured).
  // `pixelStep`: floats from one of the tile's 4 input pixels to the next.
  const runLoop = (pixelStep: number) =>
    tileRun(code, { pa: PA, pb: PB, paEnd: PA_END, acc: ACC, b: B0, a: A }, pixelStep, fma);
  runLoop(stride * c);
  // Next kernel row: one input row down, back to the tile's first pixel.
  code.push(...get(PA), I32_CONST, ...sleb(-run * 4), I32_ADD, ...get(ROW_BYTES), I32_ADD, ...set(PA));
  addConst(KY, 1);
  code.push(...get(KY), I32_CONST, ...sleb(k), I32_NE, BR_IF, 0, END);
  if (shortcut) {
    // The shortcut's C1 run, from its own input and weights.
    code.push(...get(ROWK2), ...set(PA), ...get(WB2), ...set(PB));
    code.push(...get(PA), I32_CONST, ...sleb(shortcut.c1 * 4), I32_ADD, ...set(PA_END));
    runLoop(shortcut.s1 * shortcut.c1);
  }
  // The residual (same layout within the row as the output), then the ReLU.
  code.push(...get(RES), IF, VOID);
  for (let r = 0; r < 4; r++)
    for (let h = 0; h < 2; h++) {
      const acc = ACC + 2 * r + h;
      code.push(...get(acc), ...get(OUTP), ...get(DELTA), I32_ADD, ...v128LoadAt(r * co * 4 + 16 * h));
      code.push(...F32X4_ADD, ...set(acc));
    }
  code.push(END);
  code.push(...get(RELU), IF, VOID);
  for (let i = 0; i < 8; i++) code.push(...get(ACC + i), ...get(ZERO), ...F32X4_MAX, ...set(ACC + i));
  code.push(END);
  for (let r = 0; r < 4; r++)
    for (let h = 0; h < 2; h++)
      code.push(...get(OUTP), ...get(ACC + 2 * r + h), ...v128StoreAt(r * co * 4 + 16 * h));
  addConst(ROWK, 4 * stride * c * 4);
  if (shortcut) addConst(ROWK2, 4 * shortcut.s1 * shortcut.c1 * 4);
  addConst(OUTP, 4 * co * 4);
  addConst(X0, 4);
  code.push(...get(X0), ...get(W), I32_NE, BR_IF, 0, END);
  addConst(WB, k * k * c * 32);
  if (shortcut) addConst(WB2, shortcut.c1 * 32);
  addConst(BB, 32);
  addConst(CB, 1);
  code.push(...get(CB), I32_CONST, ...sleb(co / 8), I32_NE, BR_IF, 0, END);
  code.push(END);
  return funcBody(
    [
      [N_I32, I32],
      [N_V128, V128],
    ],
    code,
  );
}

/**
 * Parameters of `rows` (function 1): output rows [r0, r1) of the N x Ho rows of one convolution,
 * every address from the image and row strides of three NHWC layouts that may carry a zero border
 * (the input, the output, the residual), so a layer can read its input in place and write its
 * output with the border the next layer needs. Both the calling thread and the helper threads
 * (conv-pool.ts) run their shares through it.
 */
const ROWS_PARAMS = [
  "r0",
  "r1",
  "xa", // input: top-left of the kernel window of output pixel (0, 0) of image 0
  "inImg", // bytes per input image
  "inRow", // bytes per input row
  "fa",
  "ba",
  "oa", // output pixel (0, 0) of image 0
  "outImg",
  "outRow",
  "ra", // residual pixel (0, 0) of image 0, or 0 for none
  "resImg",
  "resRow",
  "ho", // output rows per image
  "width", // output width
  "relu",
  "zq", // bytes of zero border to write left and right of each output row
  "xa2", // a 1 x 1 shortcut's input pixel under output pixel (0, 0) of image 0 (modules with one)
  "in2Img",
  "in2Row",
  "fa2",
  "scratch", // per-thread scratch memory (Winograd modules): thread t's starts at scratch + t x scratchBytes
  "scratchBytes",
  // Appended by each thread (conv-pool.ts), not part of a job: 0 for the calling thread, 1.. helpers.
  "thread",
] as const;
const R = Object.fromEntries(ROWS_PARAMS.map((n, i) => [n, i])) as Record<
  (typeof ROWS_PARAMS)[number],
  number
>;
const G = ROWS_PARAMS.length;
const B = G + 1;
const Y = G + 2;
const OA_ROW = G + 3;
const P = G + 4;
const P_END = G + 5;

/**
 * Zeros the left and right border (zq bytes each) of the output row whose first pixel's address is
 * in local `row` (width x C floats), through the locals P and P_END; nothing when zq is 0.
 */
function rowBorders(code: number[], row: number, c: number): void {
  const zero = () => {
    code.push(LOOP, VOID, ...get(P), ...V128_ZERO, ...v128StoreAt(0));
    code.push(...get(P), I32_CONST, 16, I32_ADD, LOCAL_TEE, ...uleb(P), ...get(P_END), I32_NE, BR_IF, 0, END);
  };
  code.push(...get(R.zq), IF, VOID);
  code.push(...get(row), ...get(R.zq), I32_SUB, ...set(P), ...get(row), ...set(P_END));
  zero();
  code.push(...get(row), ...get(R.width), I32_CONST, ...sleb(c * 4), I32_MUL, I32_ADD, LOCAL_TEE);
  code.push(...uleb(P), ...get(R.zq), I32_ADD, ...set(P_END));
  zero();
  code.push(END);
}

/**
 * The loop over output rows [r0, r1) that `rows` functions share: for each row it sets B (image) and
 * Y (row in the image), lets `row` emit the work (which must set OA_ROW to the output row's address;
 * `addr` pushes base + B x img + Y x row x rowTimes), then writes the zero border left and right of
 * the row (zq bytes each, C channels).
 */
function rowsLoop(
  c: number,
  row: (code: number[], addr: (base: number, img: number, row: number, rowTimes?: number) => void) => void,
  extraI32: number,
  extraV128: number,
): number[] {
  const code: number[] = [];
  const addr = (base: number, img: number, rowBytes: number, rowTimes = 1) => {
    code.push(...get(base), ...get(B), ...get(img), I32_MUL, I32_ADD, ...get(Y), ...get(rowBytes), I32_MUL);
    if (rowTimes !== 1) code.push(I32_CONST, ...sleb(rowTimes), I32_MUL);
    code.push(I32_ADD);
  };
  code.push(...get(R.r0), ...set(G));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(G), ...get(R.r1), I32_GE_U, BR_IF, 1);
  code.push(...get(G), ...get(R.ho), I32_DIV_U, ...set(B));
  code.push(...get(G), ...get(B), ...get(R.ho), I32_MUL, I32_SUB, ...set(Y));
  row(code, addr);
  rowBorders(code, OA_ROW, c);
  code.push(...get(G), I32_CONST, 1, I32_ADD, ...set(G), BR, 0);
  code.push(END, END, END);
  const locals: Array<[number, number]> = [[6 + extraI32, I32]];
  if (extraV128 > 0) locals.push([extraV128, V128]);
  return funcBody(locals, code);
}

function rowsBody(co: number, stride: number, shortcut: ConvShortcutShape | null): number[] {
  return rowsLoop(
    co,
    (code, addr) => {
      addr(R.xa, R.inImg, R.inRow, stride);
      code.push(...get(R.fa), ...get(R.ba));
      addr(R.oa, R.outImg, R.outRow);
      code.push(LOCAL_TEE, ...uleb(OA_ROW), ...get(R.width), ...get(R.inRow), ...get(R.relu));
      addr(R.ra, R.resImg, R.resRow);
      code.push(I32_CONST, 0, ...get(R.ra), SELECT);
      addr(R.xa2, R.in2Img, R.in2Row, shortcut?.s1 ?? 1);
      code.push(...get(R.fa2), CALL, 0);
    },
    0,
    0,
  );
}

// Parameters of `copy` (function 2): rows of an unbordered map into a bordered one, as x * scale + shift.
const C_SRC = 0; // first source row (rows are contiguous)
const C_DST = 1; // where the first row goes
const C_ROWS = 2;
const C_N4 = 3; // whole f32x4 per row
const C_TAIL = 4; // floats left over per row (0-3)
const C_DROW = 5; // bytes from one destination row to the next
const C_SCALE = 6; // f32
const C_SHIFT = 7; // f32
const C_Y = 8;
const C_I = 9;
const C_D = 10;
const C_VS = 11;
const C_VB = 12;

/**
 * The row loops of `copy` and `copy8`: per destination row, C_N4 vector steps (`vector` emits one:
 * it reads at C_SRC and writes at C_D, `src` / `dst` bytes), then C_TAIL single floats (`load`
 * pushes one source value as f32, `srcBytes` wide), each as x * scale + shift.
 */
function copyLoops(
  vector: { emit: (code: number[]) => void; src: number; dst: number },
  tail: { load: number[]; srcBytes: number },
  v128Locals: number,
): number[] {
  const code: number[] = [];
  const inc = (local: number, n: number) =>
    code.push(...get(local), I32_CONST, ...sleb(n), I32_ADD, ...set(local));
  code.push(...get(C_SCALE), ...F32X4_SPLAT, ...set(C_VS), ...get(C_SHIFT), ...F32X4_SPLAT, ...set(C_VB));
  code.push(I32_CONST, 0, ...set(C_Y), BLOCK, VOID, LOOP, VOID);
  code.push(...get(C_Y), ...get(C_ROWS), I32_EQ, BR_IF, 1);
  code.push(...get(C_DST), ...set(C_D), I32_CONST, 0, ...set(C_I), BLOCK, VOID, LOOP, VOID);
  code.push(...get(C_I), ...get(C_N4), I32_EQ, BR_IF, 1);
  vector.emit(code);
  inc(C_SRC, vector.src);
  inc(C_D, vector.dst);
  inc(C_I, 1);
  code.push(BR, 0, END, END);
  code.push(I32_CONST, 0, ...set(C_I), BLOCK, VOID, LOOP, VOID);
  code.push(...get(C_I), ...get(C_TAIL), I32_EQ, BR_IF, 1);
  code.push(...get(C_D), ...get(C_SRC), ...tail.load);
  code.push(...get(C_SCALE), F32_MUL, ...get(C_SHIFT), F32_ADD, ...F32_STORE);
  inc(C_SRC, tail.srcBytes);
  inc(C_D, 4);
  inc(C_I, 1);
  code.push(BR, 0, END, END);
  code.push(...get(C_DST), ...get(C_DROW), I32_ADD, ...set(C_DST));
  inc(C_Y, 1);
  code.push(BR, 0, END, END, END);
  return funcBody(
    [
      [3, I32],
      [v128Locals, V128],
    ],
    code,
  );
}

function copyBody(): number[] {
  const vector = (code: number[]) => {
    code.push(...get(C_D), ...get(C_SRC), ...v128LoadAt(0), ...get(C_VS), ...F32X4_MUL, ...get(C_VB));
    code.push(...F32X4_ADD, ...v128StoreAt(0));
  };
  return copyLoops({ emit: vector, src: 16, dst: 16 }, { load: F32_LOAD, srcBytes: 4 }, 2);
}

/**
 * `copy8` (function 3): the same from 8-bit pixels (one channel), x = byte * scale + shift: the
 * plan's first convolution reads the images' bytes where they lie. Parameters as `copy`, with C_N4
 * the groups of 8 pixels per row and C_TAIL the pixels left over (0-7).
 */
function copy8Body(): number[] {
  const T = C_VB + 1; // v128: 8 pixels widened to 16 bits
  // 8 pixels at a time: 8 bytes -> 8 x u16 -> 2 x (4 x u32 -> 4 x f32).
  const vector = (code: number[]) => {
    code.push(...get(C_SRC), ...V128_LOAD8X8_U, ...set(T));
    for (const [extend, offset] of [
      [I32X4_EXTEND_LOW_I16X8_U, 0],
      [I32X4_EXTEND_HIGH_I16X8_U, 16],
    ] as const) {
      code.push(...get(C_D), ...get(T), ...extend, ...F32X4_CONVERT_I32X4_U, ...get(C_VS), ...F32X4_MUL);
      code.push(...get(C_VB), ...F32X4_ADD, ...v128StoreAt(offset));
    }
  };
  return copyLoops(
    { emit: vector, src: 8, dst: 32 },
    { load: [...I32_LOAD8_U, F32_CONVERT_I32_U], srcBytes: 1 },
    3,
  );
}

/**
 * The module of one layer shape (exports `row`, `rows`, `copy` and `copy8`), with a 1 x 1 shortcut
 * summed in when `shortcut` is given; `shared` must match the backend's memory.
 */
export function convModuleBytes(
  c: number,
  co: number,
  k: number,
  stride: number,
  fma: boolean,
  shared: boolean,
  shortcut: ConvShortcutShape | null = null,
): Uint8Array<ArrayBuffer> {
  return memoryModule(
    shared,
    Array.from({ length: N_PARAMS }, () => I32),
    [
      { name: "row", body: rowBody(c, co, k, stride, fma, shortcut) },
      { name: "rows", body: rowsBody(co, stride, shortcut), params: ROWS_PARAMS.map(() => I32) },
      { name: "copy", body: copyBody(), params: [I32, I32, I32, I32, I32, I32, F32, F32] },
      { name: "copy8", body: copy8Body(), params: [I32, I32, I32, I32, I32, I32, F32, F32] },
    ],
  );
}

/** Whether this engine compiles relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd). */
let fmaAvailable: boolean | null = null;
export function relaxedSimdAvailable(): boolean {
  if (fmaAvailable === null) fmaAvailable = WebAssembly.validate(convModuleBytes(4, 8, 3, 1, true, false));
  return fmaAvailable;
}

/**
 * Turns relaxed SIMD on where the engine has it behind a flag (V8 before 11.4, i.e. Node 20;
 * Node 22 and current browsers have it on): `setFlags` is node:v8's setFlagsFromString. Returns
 * whether the fused multiply-add loop can run now.
 */
export function enableRelaxedSimd(setFlags: (flags: string) => void): boolean {
  if (relaxedSimdAvailable()) return true;
  try {
    setFlags("--experimental-wasm-relaxed-simd");
  } catch {
    return false;
  }
  fmaAvailable = null;
  return relaxedSimdAvailable();
}

let useFma = true;
/** Prefer the fused multiply-add loop where the engine has relaxed SIMD (on by default). */
export function setConvSimdFma(on: boolean): void {
  useFma = on;
}

/** A wasm function of a loop module (i32 / f32 parameters, no result). */
type WasmFn = (...a: number[]) => void;
/** One compiled loop module over the backend's memory: its exports by name, its id in the helper pool. */
interface Loop {
  fns: Record<string, WasmFn>;
  id: number;
}
interface PerMemory {
  loops: Map<string, Loop | null>;
  pool: RowPool | null;
}
const perMemory = new WeakMap<WebAssembly.Memory, PerMemory>();

let useHelpers = true;
/**
 * Whether the loop splits its rows over helper threads when the backend runs threaded (on, the
 * default) or runs on the calling thread only (A/B benchmarks, tests).
 */
export function setConvSimdHelpers(on: boolean): void {
  useHelpers = on;
}

function stateOf(memory: WebAssembly.Memory): PerMemory {
  let st = perMemory.get(memory);
  if (!st) {
    // Helper threads need the threaded build's shared memory; one per extra backend thread.
    const threads = getThreadsCount();
    const pool = isShared(memory) && threads > 1 ? new RowPool(memory, threads - 1) : null;
    st = { loops: new Map(), pool };
    perMemory.set(memory, st);
  }
  return st;
}

/** How many helper threads the loop uses on the active wasm backend (0: the calling thread only). */
export function convSimdHelperThreads(): number {
  const backend = tf.backend();
  if (!(backend instanceof BackendWasm)) return 0;
  const memory = backendMemory(backend.wasm);
  if (memory === null || !useHelpers) return 0;
  return (stateOf(memory).pool?.size ?? 1) - 1;
}

/** Rows the helper threads have run on the active wasm backend so far (tests: they take a share). */
export function convSimdHelperRows(): number {
  const backend = tf.backend();
  if (!(backend instanceof BackendWasm)) return 0;
  const memory = backendMemory(backend.wasm);
  return memory === null ? 0 : (stateOf(memory).pool?.helperRows() ?? 0);
}

/**
 * The module cached under `key` for this memory, compiled from `bytes()` on first use and registered
 * with the helper pool; null where the engine rejects it (no wasm SIMD) or lacks an export in `names`.
 */
function moduleFor<K extends string>(
  st: PerMemory,
  memory: WebAssembly.Memory,
  key: string,
  bytes: () => Uint8Array<ArrayBuffer>,
  names: readonly K[],
): (Loop & { fns: Record<K, WasmFn> }) | null {
  let loop = st.loops.get(key);
  if (loop === undefined) {
    const code = bytes();
    loop = null;
    if (WebAssembly.validate(code)) {
      const module = new WebAssembly.Module(code);
      const instance = new WebAssembly.Instance(module, { e: { m: memory } });
      const fns: Record<string, WasmFn> = {};
      for (const name of names) {
        const fn = instance.exports[name];
        if (typeof fn === "function") fns[name] = fn as WasmFn;
      }
      if (names.every((name) => name in fns)) loop = { fns, id: st.pool?.add(module) ?? -1 };
    }
    st.loops.set(key, loop);
  }
  return loop as (Loop & { fns: Record<K, WasmFn> }) | null;
}

function loopFor(
  st: PerMemory,
  memory: WebAssembly.Memory,
  c: number,
  co: number,
  k: number,
  stride: number,
  shortcut: ConvShortcutShape | null,
) {
  const fma = useFma && relaxedSimdAvailable();
  const key = `${c}/${co}/${k}/${stride}/${fma}/${shortcut?.c1 ?? 0}/${shortcut?.s1 ?? 0}`;
  const bytes = () => convModuleBytes(c, co, k, stride, fma, isShared(memory), shortcut);
  return moduleFor(st, memory, key, bytes, ["rows", "copy", "copy8"] as const);
}

/**
 * The values of ROWS_PARAMS after r0, r1 and before the thread index, in order, from a job given by
 * name (unnamed: 0).
 */
function rowsJob(values: Partial<Record<(typeof ROWS_PARAMS)[number], number>>): number[] {
  return ROWS_PARAMS.slice(2, -1).map((name) => values[name] ?? 0);
}

/** Runs rows [0, total) of a `rows` job: split with the helper threads where there are any. */
function runRows(
  st: PerMemory,
  loop: Loop & { fns: Record<"rows", WasmFn> },
  job: number[],
  total: number,
): void {
  const rows = loop.fns.rows;
  const own = (r0: number, r1: number) => rows(r0, r1, ...job, 0);
  if (st.pool && useHelpers && loop.id >= 0) st.pool.run(loop.id, job, total, own);
  else own(0, total);
}

/** Zeros the top and bottom border rows (`pad` each) of N bordered [Ho, Wo, C] maps in `view`. */
function zeroBorderRows(view: Float32Array, n: number, ho: number, wo: number, c: number, pad: number): void {
  const rowLen = (wo + 2 * pad) * c;
  const hot = ho + 2 * pad;
  for (let b = 0; b < n; b++) {
    view.fill(0, b * hot * rowLen, (b * hot + pad) * rowLen);
    view.fill(0, (b * hot + pad + ho) * rowLen, (b + 1) * hot * rowLen);
  }
}

/** Packs an HWIO [k, k, C, Co] filter as [Co/8][ky][kx][ci][8] (what the loop reads). */
export function packConvFilter(filter: Float32Array, k: number, c: number, co: number): Float32Array {
  if (co % 8 !== 0) throw new Error("conv loop: output channels must be a multiple of 8");
  if (filter.length !== k * k * c * co) throw new Error(`conv loop: filter is not [${k}, ${k}, ${c}, ${co}]`);
  const out = new Float32Array(filter.length);
  let o = 0;
  for (let cb = 0; cb < co / 8; cb++)
    for (let t = 0; t < k * k; t++)
      for (let ci = 0; ci < c; ci++)
        for (let l = 0; l < 8; l++) out[o++] = filter[(t * c + ci) * co + cb * 8 + l] ?? 0;
  return out;
}

const kernelSwitch = simdSwitch();
const winogradSwitch = simdSwitch();
/** How many convolutions ran as Winograd F(2 x 2, 3 x 3) (tests check which path ran). */
export const convWinogradRuns = winogradSwitch.runs;
/**
 * Whether 3 x 3 stride-1 convolutions given Winograd weights run as Winograd F(2 x 2, 3 x 3) where
 * the shape suits it (on, the default) or as the direct loop (A/B benchmarks, tests).
 */
export const setConvWinograd = winogradSwitch.set;
/** How many convolutions the SIMD loop has run (tests check which path ran). */
export const convSimdRuns = kernelSwitch.runs;
/** Whether the fused plan uses the SIMD loop where it applies (on) or tf.fused.conv2d (off). */
export const setConvSimd = kernelSwitch.set;

/** Output size of a "same" convolution along one axis, and the zero padding before and after it. */
export function sameGeometry(
  size: number,
  k: number,
  stride: number,
): { out: number; before: number; after: number } {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/**
 * The zero border a map of this width needs around it for the loop to read it in place as the
 * input of a k x k "same" convolution of this stride (the larger of the padding before and after).
 */
export function convSimdBorder(width: number, k: number, stride: number): number {
  const g = sameGeometry(width, k, stride);
  return Math.max(g.before, g.after);
}

/**
 * Whether a layer's shape suits the loop: a square odd kernel ([k, k, C, Co] HWIO), equal strides
 * of 1 or 2, "same" padding, Co a multiple of 8. The input width is checked per call
 * (convSimdApplies).
 */
export function convSimdFits(kernelShape: number[], strides: number[], padding: string): boolean {
  const [kh = 0, kw = 0, , co = 0] = kernelShape;
  const [sh = 1, sw = sh] = strides;
  return (
    kh === kw && kh % 2 === 1 && sh === sw && (sh === 1 || sh === 2) && padding === "same" && co % 8 === 0
  );
}

/**
 * Whether the SIMD loop can run a "same" convolution (stride 1 or 2) with this input width on the
 * active backend: wasm with reachable memory, output channels a multiple of 8, output width a
 * multiple of 4.
 */
export function convSimdApplies(width: number, co: number, stride = 1): boolean {
  const wo = Math.ceil(width / stride);
  if (!kernelSwitch.isOn() || (stride !== 1 && stride !== 2)) return false;
  if (co % 8 !== 0 || wo % 4 !== 0 || wo === 0) return false;
  const backend = tf.backend();
  return backend instanceof BackendWasm && backendMemory(backend.wasm) !== null;
}

/** Where one NHWC layout with a zero border of `pad` pixels puts pixel (0, 0) and its strides. */
function layout(base: number, h: number, w: number, c: number, pad: number) {
  const row = (w + 2 * pad) * c * 4;
  return { at: base + pad * row + pad * c * 4, row, img: (h + 2 * pad) * row };
}

const int = (v: unknown, d = 0) => (typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : d);

const convSimdKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, filter, bias, res, sx, sw, wf } = inputs;
  if (!(backend instanceof BackendWasm)) throw new Error(`${CONV_SIMD}: not the wasm backend`);
  if (x === undefined || filter === undefined || bias === undefined)
    throw new Error(`${CONV_SIMD}: x, filter, bias`);
  const stride = attrs?.stride === 2 ? 2 : 1;
  const k = int(attrs?.k, 3);
  const inPad = int(attrs?.inPad);
  const outPad = int(attrs?.outPad);
  const resPad = int(attrs?.resPad);
  // 8-bit pixels: x is int32 holding 4 pixels per element; u8Shape is the images' [N, H, W].
  const u8 = Array.isArray(attrs?.u8Shape) ? (attrs.u8Shape as number[]) : null;
  if (u8) {
    const [un = 0, uh = 0, uw = 0] = u8;
    if (
      u8.length !== 3 ||
      x.dtype !== "int32" ||
      inPad !== 0 ||
      tf.util.sizeFromShape(x.shape) * 4 < un * uh * uw
    ) {
      throw new Error(
        `${CONV_SIMD}: 8-bit pixels come as an unbordered int32 tensor of at least N*H*W/4 elements`,
      );
    }
  }
  const [n = 0, ht = 0, wt = 0, c = 0] = u8 ? [...u8, 1] : x.shape;
  const h = ht - 2 * inPad;
  const w = wt - 2 * inPad;
  const gh = sameGeometry(h, k, stride);
  const gw = sameGeometry(w, k, stride);
  const ho = gh.out;
  const wo = gw.out;
  const co = bias.shape[0] ?? 0;
  if ((!u8 && x.shape.length !== 4) || h < 1 || wo < 4 || wo % 4 !== 0 || c < 1) {
    throw new Error(`${CONV_SIMD}: x must be NHWC [N, H, W, C] with an output width that is a multiple of 4`);
  }
  if (co % 8 !== 0 || k < 1 || k % 2 !== 1 || tf.util.sizeFromShape(filter.shape) !== k * k * c * co) {
    throw new Error(
      `${CONV_SIMD}: filter must be packed [${k}, ${k}, ${c}, Co] with Co a multiple of 8 and k odd`,
    );
  }
  const border = Math.max(gh.before, gh.after, gw.before, gw.after);
  if (inPad > 0 && inPad < border) {
    throw new Error(
      `${CONV_SIMD}: the input's border (${inPad}) is narrower than the ${k} x ${k} kernel needs`,
    );
  }
  const resShape = [n, ho + 2 * resPad, wo + 2 * resPad, co];
  if (res !== undefined && !tf.util.arraysEqual(res.shape, resShape)) {
    throw new Error(`${CONV_SIMD}: the residual must be [${resShape}], got [${res.shape}]`);
  }
  // A 1 x 1 shortcut summed in: its input (with its border sPad) at stride s1 must land on Ho x Wo.
  let shortcut: ConvShortcutShape | null = null;
  const sPad = int(attrs?.sPad);
  if (sx !== undefined || sw !== undefined) {
    const s1 = attrs?.s1 === 2 ? 2 : 1;
    const [sn = 0, sh = 0, swid = 0, c1 = 0] = sx?.shape ?? [];
    const [h1, w1] = [sh - 2 * sPad, swid - 2 * sPad];
    if (
      sx === undefined ||
      sw === undefined ||
      sn !== n ||
      Math.ceil(h1 / s1) !== ho ||
      Math.ceil(w1 / s1) !== wo
    ) {
      throw new Error(
        `${CONV_SIMD}: the shortcut's input must be [${n}, H, W, C1] with H / ${s1} = ${ho}, W / ${s1} = ${wo}`,
      );
    }
    if (tf.util.sizeFromShape(sw.shape) !== c1 * co) {
      throw new Error(`${CONV_SIMD}: the shortcut's filter must be packed [1, 1, ${c1}, ${co}]`);
    }
    shortcut = { c1, s1 };
  }
  const memory = backendMemory(backend.wasm);
  const st = memory === null ? null : stateOf(memory);
  const loop = memory === null || st === null ? null : loopFor(st, memory, c, co, k, stride, shortcut);
  if (loop === null || st === null) throw new Error(`${CONV_SIMD}: no wasm SIMD in this engine`);
  const out = backend.makeOutput([n, ho + 2 * outPad, wo + 2 * outPad, co], "float32");
  // Winograd F(2 x 2, 3 x 3) where its weights are given and the shape suits it: rows of 2 x 2
  // tiles, 4 tiles per register tile (Wo a multiple of 8), C a multiple of 4.
  const fma = useFma && relaxedSimdAvailable();
  const winograd =
    wf !== undefined &&
    winogradSwitch.isOn() &&
    k === 3 &&
    stride === 1 &&
    c % 4 === 0 &&
    wo % 8 === 0 &&
    ho % 2 === 0;
  if (wf !== undefined && tf.util.sizeFromShape(wf.shape) !== 16 * c * co) {
    throw new Error(`${CONV_SIMD}: the Winograd filter must be packed [16, ${co / 8}, ${c}, 8]`);
  }
  const threads = st.pool && useHelpers ? st.pool.size : 1;
  const scratchBytes = winograd ? winogradScratchBytes(c, co) : 0;
  const scratch = winograd ? backend.makeOutput([(threads * scratchBytes) / 4], "float32") : null;
  // The shortcut then runs after the Winograd pass, adding into its output (bias already in).
  const zeroBias = winograd && shortcut ? backend.makeOutput([co], "float32") : null;
  // An input without a border is copied into one (tf.pad took 16 ms of a 44 ms layer), scaled and
  // shifted on the way when asked (the plan's input normalization); maps the plan wrote with their
  // border (inPad) and borderless 1 x 1 / 2 reads are read in place.
  const scale = typeof attrs?.inScale === "number" ? attrs.inScale : 1;
  const shift = typeof attrs?.inShift === "number" ? attrs.inShift : 0;
  const affine = scale !== 1 || shift !== 0;
  if (affine && inPad > 0)
    throw new Error(`${CONV_SIMD}: inScale / inShift apply to an unbordered input only`);
  const copied = u8 !== null || (inPad === 0 && (border > 0 || affine));
  const padded = copied ? backend.makeOutput([n, h + 2 * border, w + 2 * border, c], "float32") : null;
  // Views after the allocations (they can grow the heap).
  const srcAt = (backend.typedArrayFromHeap(x) as ArrayBufferView).byteOffset;
  let input = layout(srcAt, h, w, c, inPad);
  if (padded) {
    const dst = heapF32(backend, padded, CONV_SIMD);
    if (border > 0) dst.fill(0);
    input = layout(dst.byteOffset, h, w, c, border);
    const rowFloats = w * c;
    for (let b = 0; b < n; b++) {
      const to = input.at + b * input.img;
      if (u8) loop.fns.copy8(srcAt + b * h * w, to, h, w >> 3, w & 7, input.row, scale, shift);
      else
        loop.fns.copy(
          srcAt + b * h * rowFloats * 4,
          to,
          h,
          rowFloats >> 2,
          rowFloats & 3,
          input.row,
          scale,
          shift,
        );
    }
  }
  // The kernel window of output pixel (0, 0) starts `before` pixels up and left of input (0, 0).
  const xa = input.at - gh.before * input.row - gw.before * c * 4;
  const output = layout(heapF32(backend, out, CONV_SIMD).byteOffset, ho, wo, co, outPad);
  // The top and bottom border rows; `rows` writes the left and right ones.
  if (outPad > 0) zeroBorderRows(heapF32(backend, out, CONV_SIMD), n, ho, wo, co, outPad);
  const residual =
    res === undefined
      ? { at: 0, row: 0, img: 0 }
      : layout(heapF32(backend, res, CONV_SIMD).byteOffset, ho, wo, co, resPad);
  const [, sh = 0, swid = 0, c1 = 0] = sx?.shape ?? [];
  const short =
    sx === undefined || sw === undefined
      ? { at: 0, row: 0, img: 0, fa: 0 }
      : {
          ...layout(heapF32(backend, sx, CONV_SIMD).byteOffset, sh - 2 * sPad, swid - 2 * sPad, c1, sPad),
          fa: heapF32(backend, sw, CONV_SIMD).byteOffset,
        };
  const fa = heapF32(backend, filter, CONV_SIMD).byteOffset;
  const ba = heapF32(backend, bias, CONV_SIMD).byteOffset;
  const relu = attrs?.relu ? 1 : 0;
  // What the direct and the Winograd loop's jobs share: the maps' layouts and the bias.
  const maps = {
    xa,
    inImg: input.img,
    inRow: input.row,
    ba,
    oa: output.at,
    outImg: output.img,
    outRow: output.row,
    ra: residual.at,
    resImg: residual.img,
    resRow: residual.row,
    width: wo,
    zq: outPad * co * 4,
  };
  if (winograd && scratch && wf && memory) {
    const [hasRes, wRelu] = [res !== undefined, !!relu && !shortcut];
    const wl = moduleFor(
      st,
      memory,
      `wino/${c}/${co}/${fma}/${hasRes}/${wRelu}`,
      () => winogradModuleBytes(c, co, fma, isShared(memory), hasRes, wRelu),
      ["rows"] as const,
    );
    if (wl === null) throw new Error(`${CONV_SIMD}: the engine rejected the Winograd loop`);
    const wjob = rowsJob({
      ...maps,
      fa: heapF32(backend, wf, CONV_SIMD).byteOffset,
      ho: ho / 2, // rows of 2 x 2 tiles
      scratch: heapF32(backend, scratch, CONV_SIMD).byteOffset,
      scratchBytes,
    });
    runRows(st, wl, wjob, (n * ho) / 2);
    if (shortcut && zeroBias) {
      // The 1 x 1 shortcut as its own pass of the direct loop, adding into the output in place.
      const zb = heapF32(backend, zeroBias, CONV_SIMD);
      zb.fill(0);
      const sl = loopFor(st, memory, shortcut.c1, co, 1, shortcut.s1, null);
      if (sl === null) throw new Error(`${CONV_SIMD}: no wasm SIMD in this engine`);
      // Its input is read in place (a 1 x 1 "same" window has no padding); the output is the residual.
      const sjob = rowsJob({
        ...maps,
        xa: short.at,
        inImg: short.img,
        inRow: short.row,
        fa: short.fa,
        ba: zb.byteOffset,
        ra: output.at,
        resImg: output.img,
        resRow: output.row,
        ho,
        relu,
      });
      runRows(st, sl, sjob, n * ho);
      backend.disposeData(zeroBias.dataId);
    }
    backend.disposeData(scratch.dataId);
    winogradSwitch.ran();
  } else {
    const job = rowsJob({
      ...maps,
      fa,
      ho,
      relu,
      xa2: short.at,
      in2Img: short.img,
      in2Row: short.row,
      fa2: short.fa,
    });
    runRows(st, loop, job, n * ho);
  }
  if (padded) backend.disposeData(padded.dataId);
  kernelSwitch.ran();
  return out;
};

/** Zero borders of the loop's input, output and residual maps, in pixels (0: none). */
export interface ConvSimdBorders {
  /** The border `x` carries (the map inside it is the convolution's input). */
  inPad?: number;
  /** The border to write around the output (zeros), for a next layer to read it in place. */
  outPad?: number;
  /** Added to the output before the ReLU: [N, Ho + 2 resPad, Wo + 2 resPad, Co]. */
  residual?: tf.Tensor4D;
  resPad?: number;
  /**
   * A 1 x 1 "same" convolution of another map summed into the output before the residual and the
   * ReLU (a residual block's projection shortcut; fold its bias into `bias`): its input (with a
   * border of `pad`), its filter packed by packConvFilter, its stride.
   */
  shortcut?: { x: tf.Tensor4D; packed: tf.Tensor; pad?: number; stride: number };
  /**
   * x holds 8-bit pixels (one channel), 4 per int32 element, of images [N, H, W]; read as
   * byte * inScale + inShift.
   */
  u8Shape?: [number, number, number];
  /** The input is read as x * inScale + inShift (with `inPad` 0; its zero border stays zero). */
  inScale?: number;
  inShift?: number;
  /**
   * A 3 x 3 stride-1 layer's filter packed by packWinogradFilter: the layer then runs as Winograd
   * F(2 x 2, 3 x 3) where C is a multiple of 4, Wo of 8 and Ho even (else the direct loop).
   */
  winograd?: tf.Tensor;
}

/**
 * conv2d(x, filter, stride, "same") + bias (+ residual), then ReLU when `relu`, for a k x k filter
 * (k odd) packed by packConvFilter; stride 1 or 2. Check convSimdApplies first. With `borders`, the
 * maps carry zero borders (see ConvSimdBorders); the output is then [N, Ho + 2 outPad, ...].
 */
export function convSimd(
  x: tf.Tensor,
  packed: tf.Tensor,
  bias: tf.Tensor1D,
  relu: boolean,
  stride = 1,
  k = 3,
  borders: ConvSimdBorders = {},
): tf.Tensor4D {
  registerWasmKernel(CONV_SIMD, convSimdKernel);
  const { residual, shortcut, inPad = 0, outPad = 0, resPad = 0, inScale = 1, inShift = 0 } = borders;
  const inputs: tf.NamedTensorMap = { x, filter: packed, bias };
  if (residual) inputs.res = residual;
  if (borders.winograd) inputs.wf = borders.winograd;
  if (shortcut) {
    inputs.sx = shortcut.x;
    inputs.sw = shortcut.packed;
  }
  const s1 = shortcut?.stride ?? 1;
  const sPad = shortcut?.pad ?? 0;
  const u8Shape = borders.u8Shape ? [...borders.u8Shape] : false;
  const attrs = { relu, stride, k, inPad, outPad, resPad, inScale, inShift, s1, sPad, u8Shape };
  const y = tf.engine().runKernel(CONV_SIMD, inputs, attrs);
  if (!(y instanceof tf.Tensor)) throw new Error(`${CONV_SIMD} must return one tensor`);
  return y as tf.Tensor4D;
}

// ---------------------------------------------------------------------------------------------
// Winograd F(2 x 2, 3 x 3) for the 3 x 3 stride-1 convolutions (Lavin & Gray 2016): each 2 x 2
// output tile takes 16 multiply-adds per input and output channel instead of 36, as 16 small
// matrix products ([tiles x C] x [C x Co], one per point of the 4 x 4 transformed tile) between an
// input transform (U = Bt d B) and an output transform (Y = At M A, + bias, residual, ReLU). One
// job row is one row of tiles (two output rows): its transformed inputs and products stay in the
// thread's scratch (L2-sized), so nothing of the size of the map is written besides the output.
// The products run the same 4 x 8 register tile as the direct loop (4 tiles x 8 output channels).

/**
 * The Winograd weights of a 3 x 3 HWIO filter [3, 3, C, Co]: V = G g Gt per input / output channel
 * (computed in float64), packed [16][Co/8][C][8] (point p = 4a + b of the 4 x 4 tile).
 */
export function packWinogradFilter(filter: Float32Array, c: number, co: number): Float32Array {
  if (co % 8 !== 0) throw new Error("winograd: output channels must be a multiple of 8");
  if (filter.length !== 9 * c * co) throw new Error(`winograd: filter is not [3, 3, ${c}, ${co}]`);
  const g = [
    [1, 0, 0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0, 0, 1],
  ];
  const out = new Float32Array(16 * c * co);
  for (let ci = 0; ci < c; ci++)
    for (let o = 0; o < co; o++) {
      const w = (ky: number, kx: number) => filter[((ky * 3 + kx) * c + ci) * co + o] ?? 0;
      for (let a = 0; a < 4; a++)
        for (let b = 0; b < 4; b++) {
          let v = 0;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) v += (g[a]?.[ky] ?? 0) * w(ky, kx) * (g[b]?.[kx] ?? 0);
          out[(((a * 4 + b) * (co / 8) + (o >> 3)) * c + ci) * 8 + (o & 7)] = v;
        }
    }
  return out;
}

/**
 * Tiles per pass of the Winograd loop (a multiple of 4): its transformed inputs and products, 16
 * (C + Co) floats a tile, are kept near 16 KB, half the first-level cache. Measured on a 64 x 64 x
 * 16 layer: a whole 32-tile row per pass (64 KB) ran 1.12x as fast as the direct loop, 16 tiles
 * 1.14x, 8 tiles 1.48x, 4 tiles 1.39x.
 */
export function winogradTilesPerPass(c: number, co: number): number {
  return Math.max(4, Math.floor(256 / (c + co) / 4) * 4);
}

/** Scratch bytes one thread needs for the Winograd loop (U and M of one pass). */
export function winogradScratchBytes(c: number, co: number): number {
  return winogradTilesPerPass(c, co) * 16 * (c + co) * 4;
}

/**
 * `rows` of a Winograd module (C a multiple of 4, Co of 8): job rows are rows of 2 x 2 tiles (`ho`
 * is Ho / 2; `width`, the output width, a multiple of 8). `residual` and `relu` are constants of
 * the module (its `relu` and, without `residual`, its residual parameters are unused).
 */
function winogradRowsBody(c: number, co: number, fma: boolean, residual: boolean, relu: boolean): number[] {
  if (c % 4 !== 0 || co % 8 !== 0) throw new Error("winograd: C a multiple of 4, Co of 8");
  const names = [
    "sx", // this thread's U: [T][16][C]
    "mb", // this thread's M: [T][16][Co]
    "tiles", // T, tiles along the row
    "in0", // the current tile's four input rows
    "in1",
    "in2",
    "in3",
    "up", // U of the current tile
    "ti",
    "pi", // point of the products
    "wbp", // weights of the point
    "wbc", // weights of the point and channel block
    "cbi",
    "upb", // U of the point (tile 0)
    "mpb", // M of the point (tile 0)
    "ua", // U of the point, current tile group
    "mw", // M of the point and channel block, current tile group
    "tgi",
    "pa",
    "pb",
    "paEnd",
    "mp", // M of the current tile (output transform)
    "op", // output, first and second row of the tile
    "op2",
    "rp", // residual, first and second row
    "rp2",
    "row2", // the second output row's first pixel (its border)
    "all", // tiles along the row
    "seg0", // first tile of this pass
    "inRow0", // the input window's top-left for tile 0
    "outRow0", // the first output row's tile 0
    "resRow0",
  ] as const;
  const ts = winogradTilesPerPass(c, co);
  const L = Object.fromEntries(names.map((n, i) => [n, G + 6 + i])) as Record<(typeof names)[number], number>;
  const V = G + 6 + names.length; // v128 locals: V .. V + 15
  const ACCW = V; // 8 accumulators of the products
  const [BW0, AW, ZW] = [V + 8, V + 10, V + 11]; // BW0 and BW0 + 1: the step's 8 weights
  const T0 = V; // transform temporaries reuse V .. V + 15
  return rowsLoop(
    co,
    (code, addr) => {
      const inc = (local: number, n: number) =>
        code.push(...get(local), I32_CONST, ...sleb(n), I32_ADD, ...set(local));
      const sum = (a: number, b: number, to: number) =>
        code.push(...get(a), ...get(b), ...F32X4_ADD, ...set(to));
      const diff = (a: number, b: number, to: number) =>
        code.push(...get(a), ...get(b), ...F32X4_SUB, ...set(to));
      const load = (base: number, offset: number, to: number) =>
        code.push(...get(base), ...v128LoadAt(offset), ...set(to));
      const store = (base: number, offset: number, from: number) =>
        code.push(...get(base), ...get(from), ...v128StoreAt(offset));
      // This thread's scratch.
      code.push(...get(R.scratch), ...get(R.thread), ...get(R.scratchBytes), I32_MUL, I32_ADD, ...set(L.sx));
      code.push(...get(R.width), I32_CONST, 2, I32_DIV_U, ...set(L.all));
      code.push(...get(L.sx), I32_CONST, ...sleb(ts * 16 * c * 4), I32_ADD, ...set(L.mb));
      addr(R.xa, R.inImg, R.inRow, 2);
      code.push(...set(L.inRow0));
      addr(R.oa, R.outImg, R.outRow, 2);
      code.push(LOCAL_TEE, ...uleb(OA_ROW), ...set(L.outRow0));
      code.push(...get(L.outRow0), ...get(R.outRow), I32_ADD, ...set(L.row2));
      if (residual) {
        addr(R.ra, R.resImg, R.resRow, 2);
        code.push(...set(L.resRow0));
      }
      if (relu) code.push(...V128_ZERO, ...set(ZW));
      // Passes of up to `ts` tiles, so that U and M stay in the first-level cache.
      code.push(I32_CONST, 0, ...set(L.seg0), LOOP, VOID);
      code.push(...get(L.all), ...get(L.seg0), I32_SUB, ...set(L.tiles));
      code.push(I32_CONST, ...sleb(ts), ...get(L.tiles), ...get(L.tiles), I32_CONST, ...sleb(ts), I32_GT_U);
      code.push(SELECT, ...set(L.tiles)); // min(ts, tiles left)
      const atSeg = (base: number, bytesPerTile: number, to: number) =>
        code.push(
          ...get(L.seg0),
          I32_CONST,
          ...sleb(bytesPerTile),
          I32_MUL,
          ...get(base),
          I32_ADD,
          ...set(to),
        );

      // 1. Input transform, tile by tile: U[t][4a + b][c] = (Bt d B)[a][b] over the 4 x 4 window.
      atSeg(L.inRow0, 2 * c * 4, L.in0);
      code.push(...get(L.sx), ...set(L.up), I32_CONST, 0, ...set(L.ti));
      code.push(LOOP, VOID);
      code.push(...get(L.in0), ...get(R.inRow), I32_ADD, ...set(L.in1));
      code.push(...get(L.in1), ...get(R.inRow), I32_ADD, ...set(L.in2));
      code.push(...get(L.in2), ...get(R.inRow), I32_ADD, ...set(L.in3));
      const rows = [L.in0, L.in1, L.in2, L.in3];
      for (let cg = 0; cg < c / 4; cg++) {
        const at = (j: number) => j * c * 4 + cg * 16;
        /** Column transform results r[0..3] (one per input row) -> U[.][b] (the row transform). */
        const emitU = (r: number[], b: number) => {
          const [r0 = 0, r1 = 0, r2 = 0, r3 = 0] = r;
          const u = T0 + 14; // one temporary
          const put = (a: number) => store(L.up, (a * 4 + b) * c * 4 + cg * 16, u);
          diff(r0, r2, u);
          put(0);
          sum(r1, r2, u);
          put(1);
          diff(r2, r1, u);
          put(2);
          diff(r1, r3, u);
          put(3);
        };
        // b = 0: x0 - x2, b = 3: x1 - x3 (per input row), then b = 1, 2: x1 + x2, x2 - x1.
        for (const [b, j0, j1] of [
          [0, 0, 2],
          [3, 1, 3],
        ] as const) {
          const r = [T0, T0 + 1, T0 + 2, T0 + 3];
          rows.forEach((rowAt, i) => {
            load(rowAt, at(j0), T0 + 4);
            load(rowAt, at(j1), T0 + 5);
            diff(T0 + 4, T0 + 5, r[i] ?? 0);
          });
          emitU(r, b);
        }
        const rSum = [T0, T0 + 1, T0 + 2, T0 + 3];
        const rDiff = [T0 + 4, T0 + 5, T0 + 6, T0 + 7];
        rows.forEach((rowAt, i) => {
          load(rowAt, at(1), T0 + 8);
          load(rowAt, at(2), T0 + 9);
          sum(T0 + 8, T0 + 9, rSum[i] ?? 0);
          diff(T0 + 9, T0 + 8, rDiff[i] ?? 0);
        });
        emitU(rSum, 1);
        emitU(rDiff, 2);
      }
      inc(L.in0, 2 * c * 4);
      inc(L.up, 16 * c * 4);
      inc(L.ti, 1);
      code.push(...get(L.ti), ...get(L.tiles), I32_NE, BR_IF, 0, END);

      // 2. Products: M[t][p][co] = sum over c of U[t][p][c] V[p][c][co], 4 tiles x 8 channels at a time.
      code.push(I32_CONST, 0, ...set(L.pi), ...get(R.fa), ...set(L.wbp));
      code.push(...get(L.sx), ...set(L.upb), ...get(L.mb), ...set(L.mpb));
      code.push(LOOP, VOID); // points
      code.push(...get(L.wbp), ...set(L.wbc), I32_CONST, 0, ...set(L.cbi));
      code.push(LOOP, VOID); // output-channel blocks
      code.push(...get(L.upb), ...set(L.ua), ...get(L.mpb), ...get(L.cbi), I32_CONST, 32, I32_MUL, I32_ADD);
      code.push(...set(L.mw), I32_CONST, 0, ...set(L.tgi));
      code.push(LOOP, VOID); // groups of 4 tiles
      for (let i = 0; i < 8; i++) code.push(...V128_ZERO, ...set(ACCW + i));
      code.push(...get(L.ua), ...set(L.pa), ...get(L.wbc), ...set(L.pb));
      code.push(...get(L.pa), I32_CONST, ...sleb(c * 4), I32_ADD, ...set(L.paEnd));
      // Input channels; the 4 tiles' U values are 16 C floats apart.
      tileRun(code, { pa: L.pa, pb: L.pb, paEnd: L.paEnd, acc: ACCW, b: BW0, a: AW }, 16 * c, fma);
      for (let r = 0; r < 4; r++)
        for (let h = 0; h < 2; h++) store(L.mw, r * 16 * co * 4 + h * 16, ACCW + 2 * r + h);
      inc(L.ua, 4 * 16 * c * 4);
      inc(L.mw, 4 * 16 * co * 4);
      inc(L.tgi, 4);
      code.push(...get(L.tgi), ...get(L.tiles), I32_NE, BR_IF, 0, END);
      inc(L.wbc, c * 32);
      inc(L.cbi, 1);
      code.push(...get(L.cbi), I32_CONST, ...sleb(co / 8), I32_NE, BR_IF, 0, END);
      inc(L.wbp, c * co * 4);
      inc(L.upb, c * 4);
      inc(L.mpb, co * 4);
      inc(L.pi, 1);
      code.push(...get(L.pi), I32_CONST, 16, I32_NE, BR_IF, 0, END);

      // 3. Output transform: Y = At M A per tile and 4 channels, + bias (+ residual), ReLU.
      atSeg(L.outRow0, 2 * co * 4, L.op);
      code.push(...get(L.op), ...get(R.outRow), I32_ADD, ...set(L.op2));
      if (residual) {
        atSeg(L.resRow0, 2 * co * 4, L.rp);
        code.push(...get(L.rp), ...get(R.resRow), I32_ADD, ...set(L.rp2));
      }
      code.push(...get(L.mb), ...set(L.mp), I32_CONST, 0, ...set(L.ti));
      code.push(LOOP, VOID);
      const [Y00, Y01, Y10, Y11, S0, S1, M0, M1, M2, M3, BV] = Array.from({ length: 11 }, (_, i) => T0 + i);
      for (let cg = 0; cg < co / 4; cg++) {
        for (let b = 0; b < 4; b++) {
          [M0, M1, M2, M3].forEach((m, a) => {
            load(L.mp, (a * 4 + b) * co * 4 + cg * 16, m ?? 0);
          });
          sum(M0 ?? 0, M1 ?? 0, S0 ?? 0);
          sum(S0 ?? 0, M2 ?? 0, S0 ?? 0);
          diff(M1 ?? 0, M2 ?? 0, S1 ?? 0);
          diff(S1 ?? 0, M3 ?? 0, S1 ?? 0);
          // y[r][0] = s_r0 + s_r1 + s_r2, y[r][1] = s_r1 - s_r2 - s_r3.
          const acc = (y: number, s: number, sign: 0 | 1 | -1, first: boolean) => {
            if (sign === 0) return;
            if (first) code.push(...get(s), ...set(y));
            else if (sign === 1) sum(y, s, y);
            else diff(y, s, y);
          };
          const c0 = b === 3 ? 0 : 1;
          const c1 = b === 0 ? 0 : b === 1 ? 1 : -1;
          acc(Y00 ?? 0, S0 ?? 0, c0, b === 0);
          acc(Y10 ?? 0, S1 ?? 0, c0, b === 0);
          acc(Y01 ?? 0, S0 ?? 0, c1, b === 1);
          acc(Y11 ?? 0, S1 ?? 0, c1, b === 1);
        }
        code.push(...get(R.ba), ...v128LoadAt(cg * 16), ...set(BV ?? 0));
        const outs: Array<[number, number, number]> = [
          [Y00 ?? 0, L.op, 0],
          [Y01 ?? 0, L.op, co * 4],
          [Y10 ?? 0, L.op2, 0],
          [Y11 ?? 0, L.op2, co * 4],
        ];
        const resOf = (base: number) => (base === L.op ? L.rp : L.rp2);
        for (const [y, base, off] of outs) {
          sum(y, BV ?? 0, y);
          if (residual) {
            code.push(...get(y), ...get(resOf(base)), ...v128LoadAt(off + cg * 16), ...F32X4_ADD, ...set(y));
          }
          if (relu) code.push(...get(y), ...get(ZW), ...F32X4_MAX, ...set(y));
          store(base, off + cg * 16, y);
        }
      }
      inc(L.mp, 16 * co * 4);
      inc(L.op, 2 * co * 4);
      inc(L.op2, 2 * co * 4);
      if (residual) {
        inc(L.rp, 2 * co * 4);
        inc(L.rp2, 2 * co * 4);
      }
      inc(L.ti, 1);
      code.push(...get(L.ti), ...get(L.tiles), I32_NE, BR_IF, 0, END);
      inc(L.seg0, ts);
      code.push(...get(L.seg0), ...get(L.all), I32_LT_U, BR_IF, 0, END);
      // The second row's left and right border (rowsLoop writes the first's).
      rowBorders(code, L.row2, co);
    },
    names.length,
    16,
  );
}

/** A module whose only export is `rows` (ROWS_PARAMS), with this body. */
function rowsModule(shared: boolean, body: number[]): Uint8Array<ArrayBuffer> {
  return memoryModule(
    shared,
    ROWS_PARAMS.map(() => I32),
    [{ name: "rows", body }],
  );
}

/** The Winograd module of one shape: exports `rows` (ROWS_PARAMS). */
export function winogradModuleBytes(
  c: number,
  co: number,
  fma: boolean,
  shared: boolean,
  residual: boolean,
  relu: boolean,
): Uint8Array<ArrayBuffer> {
  return rowsModule(shared, winogradRowsBody(c, co, fma, residual, relu));
}

// ---------------------------------------------------------------------------------------------
// Max-pooling of a non-negative map (after a ReLU) between loop layers: a k x k "same" window at
// stride s over a map that carries a zero border (zero is the smallest value such a map holds, so
// the border acts as the -infinity padding of "same" pooling: every window covers a real pixel),
// written with the border the next layer needs. A module with the same `rows` signature as the
// convolution's (ROWS_PARAMS; the weight, residual and shortcut slots unused), so the helper
// threads run its rows too.

export const MAX_POOL_SIMD = "XrayMaxPoolSimd";
const MP_X = G + 6; // input address of the current output pixel's window
const MP_Q = G + 7; // output address of the current pixel
const MP_XI = G + 8; // output pixels done in this row
const MP_ROW = G + 9; // the window's current input row
const MP_M = G + 10; // v128: the running maximum

function maxPoolRowsBody(c: number, k: number, stride: number): number[] {
  return rowsLoop(
    c,
    (code, addr) => {
      const inc = (local: number, n: number) =>
        code.push(...get(local), I32_CONST, ...sleb(n), I32_ADD, ...set(local));
      // This output row's first window and first output pixel.
      addr(R.xa, R.inImg, R.inRow, stride);
      code.push(...set(MP_X));
      addr(R.oa, R.outImg, R.outRow);
      code.push(LOCAL_TEE, ...uleb(OA_ROW), ...set(MP_Q), I32_CONST, 0, ...set(MP_XI));
      code.push(LOOP, VOID); // output pixels along the row
      for (let cb = 0; cb < c / 4; cb++) {
        code.push(...get(MP_X), ...v128LoadAt(cb * 16), ...set(MP_M), ...get(MP_X), ...set(MP_ROW));
        for (let dy = 0; dy < k; dy++) {
          if (dy > 0) code.push(...get(MP_ROW), ...get(R.inRow), I32_ADD, ...set(MP_ROW));
          for (let dx = 0; dx < k; dx++) {
            if (dy === 0 && dx === 0) continue;
            code.push(...get(MP_M), ...get(MP_ROW), ...v128LoadAt(dx * c * 4 + cb * 16), ...F32X4_MAX);
            code.push(...set(MP_M));
          }
        }
        code.push(...get(MP_Q), ...get(MP_M), ...v128StoreAt(cb * 16));
      }
      inc(MP_X, stride * c * 4);
      inc(MP_Q, c * 4);
      inc(MP_XI, 1);
      code.push(...get(MP_XI), ...get(R.width), I32_NE, BR_IF, 0, END);
    },
    4,
    1,
  );
}

/** The max-pool module of one shape (C channels, a multiple of 4; k x k window; stride). */
export function maxPoolModuleBytes(
  c: number,
  k: number,
  stride: number,
  shared: boolean,
): Uint8Array<ArrayBuffer> {
  return rowsModule(shared, maxPoolRowsBody(c, k, stride));
}

const poolSwitch = simdSwitch();
/** How many max-pools the SIMD loop has run (tests check which path ran). */
export const maxPoolSimdRuns = poolSwitch.runs;
/** Whether the fused plan max-pools with the SIMD loop where it applies (on) or tf.maxPool (off). */
export const setMaxPoolSimd = poolSwitch.set;

/**
 * Whether the SIMD max-pool can run a square k x k "same" pool (k odd, stride 1 or 2) over C
 * channels on the active backend: C a multiple of 4, wasm with reachable memory. Its input must be
 * non-negative and carry a zero border of convSimdBorder pixels (the caller knows both).
 */
export function maxPoolSimdApplies(c: number, pool: number[], strides: number[], padding: string): boolean {
  const [k = 0, kw = k] = pool;
  const [s = 0, sw = s] = strides;
  if (!poolSwitch.isOn() || k !== kw || k % 2 !== 1 || s !== sw || (s !== 1 && s !== 2)) return false;
  if (padding !== "same" || c % 4 !== 0 || c === 0) return false;
  const backend = tf.backend();
  return backend instanceof BackendWasm && backendMemory(backend.wasm) !== null;
}

const maxPoolSimdKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { x } = inputs;
  if (!(backend instanceof BackendWasm)) throw new Error(`${MAX_POOL_SIMD}: not the wasm backend`);
  if (x === undefined || x.shape.length !== 4) throw new Error(`${MAX_POOL_SIMD}: x must be NHWC`);
  const stride = attrs?.stride === 2 ? 2 : 1;
  const k = int(attrs?.k, 3);
  const inPad = int(attrs?.inPad);
  const outPad = int(attrs?.outPad);
  const [n = 0, ht = 0, wt = 0, c = 0] = x.shape;
  const [h, w] = [ht - 2 * inPad, wt - 2 * inPad];
  const gh = sameGeometry(h, k, stride);
  const gw = sameGeometry(w, k, stride);
  if (c % 4 !== 0 || h < 1 || w < 1) throw new Error(`${MAX_POOL_SIMD}: channels must be a multiple of 4`);
  if (inPad < Math.max(gh.before, gh.after, gw.before, gw.after)) {
    throw new Error(
      `${MAX_POOL_SIMD}: the input's border (${inPad}) is narrower than the ${k} x ${k} window needs`,
    );
  }
  const memory = backendMemory(backend.wasm);
  const st = memory === null ? null : stateOf(memory);
  const loop =
    memory === null || st === null
      ? null
      : moduleFor(
          st,
          memory,
          `maxpool/${c}/${k}/${stride}`,
          () => maxPoolModuleBytes(c, k, stride, isShared(memory)),
          ["rows"] as const,
        );
  if (loop === null || st === null) throw new Error(`${MAX_POOL_SIMD}: no wasm SIMD in this engine`);
  const [ho, wo] = [gh.out, gw.out];
  const out = backend.makeOutput([n, ho + 2 * outPad, wo + 2 * outPad, c], "float32");
  const input = layout(heapF32(backend, x, MAX_POOL_SIMD).byteOffset, h, w, c, inPad);
  const o = heapF32(backend, out, MAX_POOL_SIMD);
  const output = layout(o.byteOffset, ho, wo, c, outPad);
  if (outPad > 0) zeroBorderRows(o, n, ho, wo, c, outPad);
  const xa = input.at - gh.before * input.row - gw.before * c * 4;
  // Filter, bias, residual and shortcut slots unused.
  const job = rowsJob({
    xa,
    inImg: input.img,
    inRow: input.row,
    oa: output.at,
    outImg: output.img,
    outRow: output.row,
    ho,
    width: wo,
    zq: outPad * c * 4,
  });
  runRows(st, loop, job, n * ho);
  poolSwitch.ran();
  return out;
};

/**
 * k x k "same" max-pool (k odd, stride 1 or 2) of a NON-NEGATIVE map `x` that carries a zero border
 * of `inPad` pixels (at least convSimdBorder of its size, window and stride), written with a zero border of `outPad`. Check
 * maxPoolSimdApplies first.
 */
export function maxPoolSimd(
  x: tf.Tensor4D,
  k: number,
  stride: number,
  inPad: number,
  outPad = 0,
): tf.Tensor4D {
  registerWasmKernel(MAX_POOL_SIMD, maxPoolSimdKernel);
  const y = tf.engine().runKernel(MAX_POOL_SIMD, { x }, { k, stride, inPad, outPad });
  if (!(y instanceof tf.Tensor)) throw new Error(`${MAX_POOL_SIMD} must return one tensor`);
  return y as tf.Tensor4D;
}
