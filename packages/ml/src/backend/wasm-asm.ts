import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type * as tf from "@tensorflow/tfjs-core";
/**
 * A few helpers to write small WebAssembly modules byte by byte (no toolchain): LEB128, sections,
 * the opcodes our SIMD kernels use, and the shell of a module whose only import is a memory (the
 * wasm backend's own, so the kernels run over tensors where they lie). Used by adamw-simd.ts and
 * batch-norm-simd.ts.
 */

export function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 (the immediates of i32.const). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

export function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

export function str(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

// Value types.
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
// Instructions.
export const LOCAL_GET = 0x20;
export const LOCAL_SET = 0x21;
export const LOCAL_TEE = 0x22;
export const I32_CONST = 0x41;
export const I32_EQZ = 0x45;
export const I32_EQ = 0x46;
export const I32_NE = 0x47;
export const I32_ADD = 0x6a;
export const I32_SUB = 0x6b;
export const I32_GE_U = 0x4f;
export const I32_LT_U = 0x49;
export const I32_GT_U = 0x4b;
export const I32_MUL = 0x6c;
export const I32_DIV_U = 0x6e;
export const CALL = 0x10;
export const F32_LOAD = [0x2a, 2, 0]; // align 2^2, offset 0
export const F32_STORE = [0x38, 2, 0];
export const F32_ADD = 0x92;
export const F32_MUL = 0x94;
export const F32_CONVERT_I32_U = 0xb3;
export const I32_LOAD8_U = [0x2d, 0, 0]; // align 2^0, offset 0
export const SELECT = 0x1b;
export const BLOCK = 0x02;
export const IF = 0x04;
export const LOOP = 0x03;
export const BR = 0x0c;
export const BR_IF = 0x0d;
export const END = 0x0b;
export const VOID = 0x40;
export const simd = (op: number): number[] => [0xfd, ...uleb(op)];
export const V128_LOAD = [...simd(0x00), 0, 0]; // memarg: align 2^0, offset 0
export const V128_STORE = [...simd(0x0b), 0, 0];
/** v128.load with a constant byte offset added to the address. */
export const v128LoadAt = (offset: number): number[] => [...simd(0x00), 0, ...uleb(offset)];
/** v128.store with a constant byte offset added to the address. */
export const v128StoreAt = (offset: number): number[] => [...simd(0x0b), 0, ...uleb(offset)];
/** v128.load32_splat: one float32 from the address (plus a constant offset) in all four lanes. */
export const load32SplatAt = (offset: number): number[] => [...simd(0x09), 0, ...uleb(offset)];
/** v128.const 0. */
export const V128_ZERO = [...simd(0x0c), ...new Array<number>(16).fill(0)];
export const F32X4_MAX = simd(0xe9);
/** v128.load8x8_u: 8 bytes widened to 8 x u16 (memarg: align 2^0, offset 0). */
export const V128_LOAD8X8_U = [...simd(0x02), 0, 0];
export const I32X4_EXTEND_LOW_I16X8_U = simd(0xa9);
export const I32X4_EXTEND_HIGH_I16X8_U = simd(0xaa);
export const F32X4_CONVERT_I32X4_U = simd(0xfb);
/** relaxed SIMD: f32x4.relaxed_madd(a, b, c) = a * b + c, fused where the CPU has FMA. */
export const F32X4_RELAXED_MADD = simd(0x105);
export const F32X4_SPLAT = simd(0x13);
export const F32X4_SQRT = simd(0xe3);
export const F32X4_ADD = simd(0xe4);
export const F32X4_SUB = simd(0xe5);
export const F32X4_MUL = simd(0xe6);
export const F32X4_DIV = simd(0xe7);
export const F64X2_ADD = simd(0xf0);
export const F64X2_DIV = simd(0xf3);
export const F64X2_PROMOTE_LOW_F32X4 = simd(0x5f);
export const F32X4_DEMOTE_F64X2_ZERO = simd(0x5e);
/** i8x16.shuffle of the two vectors on the stack: result byte k is byte lanes[k] of (a ++ b). */
export const i8x16Shuffle = (lanes: number[]): number[] => {
  if (lanes.length !== 16 || lanes.some((l) => l < 0 || l > 31))
    throw new Error("i8x16.shuffle: 16 lanes in 0..31");
  return [...simd(0x0d), ...lanes];
};

export const get = (k: number | undefined): number[] => [LOCAL_GET, ...uleb(k ?? 0)];
export const set = (k: number | undefined): number[] => [LOCAL_SET, ...uleb(k ?? 0)];

/** A function body: its locals as [count, type] runs, then its code (the final END included). */
export function funcBody(locals: Array<[number, number]>, code: number[]): number[] {
  const fn = [...vec(locals), ...code];
  return [...uleb(fn.length), ...fn];
}

/**
 * A module that imports "e"."m", a memory (shared for the threaded backend's), and exports
 * functions with no results: each takes `params` unless it names its own. `bodies` come from
 * funcBody; function k is export k (what `call` takes).
 */
export function memoryModule(
  shared: boolean,
  params: number[],
  exports: Array<{ name: string; body: number[]; params?: number[] }>,
): Uint8Array<ArrayBuffer> {
  const type = section(1, vec(exports.map((e) => [0x60, ...vec((e.params ?? params).map((t) => [t])), 0])));
  // Import "e"."m": a memory of at least 0 pages; a shared one needs a maximum (4 GiB here).
  const limits = shared ? [0x03, 0, ...uleb(65536)] : [0x00, 0];
  const imports = section(2, vec([[...str("e"), ...str("m"), 0x02, ...limits]]));
  const funcs = section(3, vec(exports.map((_, k) => uleb(k))));
  const exportSection = section(7, vec(exports.map((e, k) => [...str(e.name), 0x00, ...uleb(k)])));
  const code = section(10, vec(exports.map((e) => e.body)));
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...type,
    ...imports,
    ...funcs,
    ...exportSection,
    ...code,
  ]);
}

/** Whether `memory` is a shared (threaded) one. */
export function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
}

/** The wasm backend's memory (Emscripten exposes it as wasmMemory or asm.memory), or null. */
export function backendMemory(module: object): WebAssembly.Memory | null {
  if ("wasmMemory" in module && module.wasmMemory instanceof WebAssembly.Memory) return module.wasmMemory;
  if ("asm" in module && typeof module.asm === "object" && module.asm !== null) {
    const asm: object = module.asm;
    if ("memory" in asm && asm.memory instanceof WebAssembly.Memory) return asm.memory;
  }
  return null;
}

/**
 * The on/off switch and run counter of one SIMD kernel: on by default; A/B benchmarks and tests
 * switch it off to run the path it replaces (same bits), and tests read the counter to see which
 * path ran.
 */
export interface SimdSwitch {
  isOn(): boolean;
  set(on: boolean): void;
  ran(): void;
  runs(): number;
}

export function simdSwitch(): SimdSwitch {
  let on = true;
  let runs = 0;
  return {
    isOn: () => on,
    set: (v) => {
      on = v;
    },
    ran: () => {
      runs++;
    },
    runs: () => runs,
  };
}

/**
 * One SIMD loop per backend instance, built on first use over that backend's memory; null where the
 * memory is not reachable or `make` gives null (no wasm SIMD in this engine).
 */
export function simdLoopPerBackend<T>(
  make: (memory: WebAssembly.Memory) => T | null,
): (backend: BackendWasm) => T | null {
  const built = new WeakMap<BackendWasm, T | null>();
  return (backend) => {
    let loop = built.get(backend);
    if (loop === undefined) {
      const memory = backendMemory(backend.wasm);
      loop = memory === null ? null : make(memory);
      built.set(backend, loop);
    }
    return loop;
  };
}

/** A float32 tensor's view of the backend's memory (its byteOffset is what the loops take). */
export function heapF32(backend: BackendWasm, t: tf.TensorInfo, kernel: string): Float32Array {
  const v = backend.typedArrayFromHeap(t);
  if (!(v instanceof Float32Array)) throw new Error(`${kernel}: expected a float32 tensor`);
  return v;
}
