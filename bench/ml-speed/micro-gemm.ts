/**
 * How fast can a WebAssembly SIMD GEMM inner loop go on this CPU, with and without relaxed SIMD's
 * fused multiply-add (f32x4.relaxed_madd), beside XNNPACK's 3x3 convolution in the TF.js wasm
 * backend on one thread? The ceiling a hand-written convolution would work under (the inference goal
 * needs about 1.7x XNNPACK's rate at 64 px, docs/benchmarks.md "Pool scoring throughput").
 *
 *   node --experimental-wasm-relaxed-simd --import tsx bench/ml-speed/micro-gemm.ts [--k 256] [--iters 100000]
 *
 * The kernel: a 4 x 8 register tile (8 f32x4 accumulators), per k one splat load of each of the 4
 * A values and two loads of 8 packed B values, 32 multiply-adds; A and B stay in L1 (K = 256: 12 KiB).
 * FLOPs = 2 * 4 * 8 * K * iters. Without the flag (or on an engine without relaxed SIMD) only the
 * mul + add kernel runs. Both kernels' results are checked against a float64 reference.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../packages/ml/src/backend/index.js";
import {
  BLOCK,
  BR,
  BR_IF,
  END,
  F32X4_ADD,
  F32X4_MUL,
  F32X4_RELAXED_MADD,
  funcBody,
  get,
  I32,
  I32_ADD,
  I32_CONST,
  I32_EQZ,
  LOOP,
  load32SplatAt,
  memoryModule,
  set,
  sleb,
  V128,
  V128_ZERO,
  VOID,
  v128LoadAt,
  v128StoreAt,
} from "../../packages/ml/src/backend/wasm-asm.js";

const { values: args } = parseArgs({
  options: { k: { type: "string", default: "256" }, iters: { type: "string", default: "100000" } },
});
const K = Number(args.k);
const iters = Number(args.iters);

const LOAD32_SPLAT = load32SplatAt(0);

// params: a, b, c, K, iters; i32 locals: pa0..pa3 (5-8), pb 9, k 10, it 11; v128: acc 12-19, b0 20, b1 21, a 22
function kernel(fma: boolean): number[] {
  const code: number[] = [];
  const addI = (local: number, n: number) =>
    code.push(...get(local), I32_CONST, ...sleb(n), I32_ADD, ...set(local));
  code.push(...get(4), ...set(11), BLOCK, VOID, LOOP, VOID);
  code.push(...get(11), I32_EQZ, BR_IF, 1);
  for (let i = 0; i < 8; i++) code.push(...V128_ZERO, ...set(12 + i));
  for (let r = 0; r < 4; r++) {
    // pa_r = a + r * K * 4
    code.push(...get(0), ...get(3), I32_CONST, ...sleb(4 * r), 0x6c /* i32.mul */, I32_ADD, ...set(5 + r));
  }
  code.push(...get(1), ...set(9), ...get(3), ...set(10));
  code.push(BLOCK, VOID, LOOP, VOID, ...get(10), I32_EQZ, BR_IF, 1);
  code.push(...get(9), ...v128LoadAt(0), ...set(20), ...get(9), ...v128LoadAt(16), ...set(21));
  for (let r = 0; r < 4; r++) {
    code.push(...get(5 + r), ...LOAD32_SPLAT, ...set(22));
    for (let h = 0; h < 2; h++) {
      const acc = 12 + 2 * r + h;
      if (fma) code.push(...get(22), ...get(20 + h), ...get(acc), ...F32X4_RELAXED_MADD, ...set(acc));
      else code.push(...get(acc), ...get(22), ...get(20 + h), ...F32X4_MUL, ...F32X4_ADD, ...set(acc));
    }
  }
  for (let r = 0; r < 4; r++) addI(5 + r, 4);
  addI(9, 32);
  addI(10, -1);
  code.push(BR, 0, END, END);
  for (let i = 0; i < 8; i++) code.push(...get(2), ...get(12 + i), ...v128StoreAt(16 * i));
  addI(11, -1);
  code.push(BR, 0, END, END, END);
  return funcBody(
    [
      [7, I32],
      [11, V128],
    ],
    code,
  );
}

function build(fma: boolean, memory: WebAssembly.Memory) {
  const bytes = memoryModule(false, [I32, I32, I32, I32, I32], [{ name: "gemm", body: kernel(fma) }]);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } });
  return inst.exports.gemm as (a: number, b: number, c: number, k: number, iters: number) => void;
}

const memory = new WebAssembly.Memory({ initial: 16 });
const f32 = new Float32Array(memory.buffer);
const aOff = 0;
const bOff = 4 * K * 4;
const cOff = bOff + K * 8 * 4;
for (let i = 0; i < 4 * K; i++) f32[aOff / 4 + i] = Math.sin(i) * 0.5;
for (let i = 0; i < K * 8; i++) f32[bOff / 4 + i] = Math.cos(i * 0.7) * 0.5;
const ref = new Float64Array(32);
for (let r = 0; r < 4; r++)
  for (let n = 0; n < 8; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += (f32[aOff / 4 + r * K + k] ?? 0) * (f32[bOff / 4 + k * 8 + n] ?? 0);
    ref[r * 8 + n] = s;
  }

function run(name: string, fma: boolean): number | null {
  let gemm: ReturnType<typeof build>;
  try {
    gemm = build(fma, memory);
  } catch (e) {
    console.log(`${name}: not available here (${(e as Error).message.split("\n")[0]})`);
    return null;
  }
  gemm(aOff, bOff, cOff, K, 1);
  let maxErr = 0;
  // C tile: 8 v128 stores, acc index 2r + h -> row r, columns 4h..4h+3.
  for (let r = 0; r < 4; r++)
    for (let n = 0; n < 8; n++) {
      const got = f32[cOff / 4 + (2 * r + (n >> 2)) * 4 + (n & 3)] ?? 0;
      maxErr = Math.max(maxErr, Math.abs(got - (ref[r * 8 + n] ?? 0)));
    }
  if (maxErr > 1e-3) throw new Error(`${name}: wrong result (max error ${maxErr})`);
  gemm(aOff, bOff, cOff, K, Math.max(1, iters / 10)); // warm-up (tier-up)
  const times: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t = performance.now();
    gemm(aOff, bOff, cOff, K, iters);
    times.push(performance.now() - t);
  }
  const ms = [...times].sort((x, y) => x - y)[2] ?? Number.NaN;
  const gflops = (2 * 4 * 8 * K * iters) / (ms / 1000) / 1e9;
  console.log(
    `${name}: ${gflops.toFixed(1)} GFLOP/s (median of 5, ${ms.toFixed(1)} ms; max error ${maxErr.toExponential(1)})`,
  );
  return gflops;
}

async function xnnpackConv(): Promise<number> {
  await initBackend({ prefer: "wasm", threads: 1, log: () => {} });
  // The 64 px encoder's first stage: batch 64, 64 x 64 x 16 -> 16, 3 x 3, same.
  const x = tf.randomNormal([64, 64, 64, 16]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 16, 16]) as tf.Tensor4D;
  const flops = 2 * 64 * 64 * 64 * 9 * 16 * 16;
  for (let i = 0; i < 2; i++) tf.conv2d(x, w, 1, "same").dispose();
  const times: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t = performance.now();
    const y = tf.conv2d(x, w, 1, "same");
    await y.data();
    times.push(performance.now() - t);
    y.dispose();
  }
  const ms = [...times].sort((p, q) => p - q)[2] ?? Number.NaN;
  const gflops = flops / (ms / 1000) / 1e9;
  console.log(
    `XNNPACK conv2d 3x3 16->16 on 64 x 64 x 64 (TF.js wasm, 1 thread): ${gflops.toFixed(1)} GFLOP/s (median of 5, ${ms.toFixed(1)} ms)`,
  );
  tf.dispose([x, w]);
  return gflops;
}

console.log(`K ${K}, iters ${iters}, node ${process.version}`);
const plain = run("wasm SIMD mul + add, 4x8 tile", false);
const fused = run("wasm relaxed SIMD madd, 4x8 tile", true);
const conv = await xnnpackConv();
if (plain && fused) console.log(`relaxed madd / mul + add: ${(fused / plain).toFixed(2)}x`);
if (plain) console.log(`mul + add tile / XNNPACK conv: ${(plain / conv).toFixed(2)}x`);
if (fused) console.log(`relaxed madd tile / XNNPACK conv: ${(fused / conv).toFixed(2)}x`);
