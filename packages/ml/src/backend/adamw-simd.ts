/**
 * The AdamW update as a tiny hand-assembled WebAssembly SIMD module that imports the wasm
 * backend's own memory, so it runs over the tensors where they lie, four lanes at a time, with
 * the same IEEE float32 operations as the op sequence (wasm has no fused multiply-add, and f32x4
 * add, sub, mul, div and sqrt round like their scalar counterparts): the same bits.
 *
 * A JS loop over the heap (adamwUpdate in wasm-js-kernels.ts) was slower than the op sequence it
 * replaces on the benchmark network (one scalar thread against the backend's threaded SIMD ops:
 * two divisions, a square root and ten float32 roundings per element); this is what makes the
 * fused update pay. No toolchain builds it: the bytes are written below, opcode by opcode.
 */

import {
  BLOCK,
  BR,
  BR_IF,
  END,
  F32,
  F32X4_ADD,
  F32X4_DIV,
  F32X4_MUL,
  F32X4_SPLAT,
  F32X4_SQRT,
  F32X4_SUB,
  funcBody,
  get,
  I32,
  I32_ADD,
  I32_CONST,
  I32_GE_U,
  isShared,
  LOOP,
  memoryModule,
  set,
  V128,
  V128_LOAD,
  V128_STORE,
  VOID,
} from "./wasm-asm";

/** The update over the backend's memory; tensors are addressed by their byte offsets there. */
export interface SimdAdamW {
  /**
   * Updates `count` elements (a multiple of 4) from byte offsets p, g, m, v into pOut, mOut, vOut.
   * Scalars are float32 (they are rounded on the way in, as scalar tensors would be).
   */
  run(
    addr: { p: number; g: number; m: number; v: number; pOut: number; mOut: number; vOut: number },
    count: number,
    s: {
      b1: number;
      nb1: number;
      b2: number;
      nb2: number;
      c1: number;
      c2: number;
      eps: number;
      lr: number;
      wd: number;
    },
  ): void;
}

// Parameters: 0..6 byte offsets p, g, m, v, pOut, mOut, vOut; 7 byte count; 8..16 the scalars.
const P = 0;
const G = 1;
const M = 2;
const V = 3;
const PO = 4;
const MO = 5;
const VO = 6;
const BYTES = 7;
const SCALARS = 8; // b1, nb1, b2, nb2, c1, c2, eps, lr, wd
const NSCALAR = 9;
// Locals after the parameters: i (i32), then the nine splats, then gv, m2, v2, pv, upd (v128).
const I = 17;
const SPLAT = 18;
const [B1, NB1, B2, NB2, C1, C2, EPS, LR, WD] = Array.from({ length: NSCALAR }, (_, k) => SPLAT + k);
const GV = SPLAT + NSCALAR;
const M2 = GV + 1;
const V2 = GV + 2;
const PV = GV + 3;
const UPD = GV + 4;

/** v128.load from base + i. */
const load = (base: number): number[] => [...get(base), ...get(I), I32_ADD, ...V128_LOAD];

function body(decay: boolean): number[] {
  const code: number[] = [];
  for (let k = 0; k < NSCALAR; k++) code.push(...get(SCALARS + k), ...F32X4_SPLAT, ...set(SPLAT + k));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(I), ...get(BYTES), I32_GE_U, BR_IF, 1);
  code.push(...load(G), ...set(GV));
  // m2 = m*b1 + g*nb1
  code.push(...load(M), ...get(B1), ...F32X4_MUL, ...get(GV), ...get(NB1), ...F32X4_MUL, ...F32X4_ADD);
  code.push(...set(M2));
  code.push(...get(MO), ...get(I), I32_ADD, ...get(M2), ...V128_STORE);
  // v2 = v*b2 + (g*g)*nb2
  code.push(...load(V), ...get(B2), ...F32X4_MUL);
  code.push(...get(GV), ...get(GV), ...F32X4_MUL, ...get(NB2), ...F32X4_MUL, ...F32X4_ADD, ...set(V2));
  code.push(...get(VO), ...get(I), I32_ADD, ...get(V2), ...V128_STORE);
  // upd = (m2/c1) / (sqrt(v2/c2) + eps)
  code.push(...get(M2), ...get(C1), ...F32X4_DIV);
  code.push(...get(V2), ...get(C2), ...F32X4_DIV, ...F32X4_SQRT, ...get(EPS), ...F32X4_ADD, ...F32X4_DIV);
  code.push(...set(UPD));
  code.push(...load(P), ...set(PV));
  // upd += p*wd
  if (decay) code.push(...get(UPD), ...get(PV), ...get(WD), ...F32X4_MUL, ...F32X4_ADD, ...set(UPD));
  // pOut = p - upd*lr
  code.push(...get(PO), ...get(I), I32_ADD);
  code.push(...get(PV), ...get(UPD), ...get(LR), ...F32X4_MUL, ...F32X4_SUB, ...V128_STORE);
  code.push(...get(I), I32_CONST, 16, I32_ADD, ...set(I), BR, 0, END, END, END);
  // Locals: 1 x i32, 14 x v128.
  return funcBody(
    [
      [1, I32],
      [NSCALAR + 5, V128],
    ],
    code,
  );
}

/** The module's bytes; `shared` must match the backend's memory (the threaded build's is shared). */
export function adamwModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  const params = [...Array.from({ length: 8 }, () => I32), ...Array.from({ length: NSCALAR }, () => F32)];
  return memoryModule(shared, params, [
    { name: "plain", body: body(false) },
    { name: "decay", body: body(true) },
  ]);
}

/** Instantiates the module over `memory`; null where this engine lacks wasm SIMD. */
export function makeSimdAdamW(memory: WebAssembly.Memory): SimdAdamW | null {
  const bytes = adamwModuleBytes(isShared(memory));
  if (!WebAssembly.validate(bytes)) return null;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } });
  const plain = instance.exports.plain;
  const decay = instance.exports.decay;
  if (typeof plain !== "function" || typeof decay !== "function") return null;
  return {
    run(a, count, s) {
      if (count % 4 !== 0) throw new Error("SIMD AdamW: count must be a multiple of 4");
      const args = [a.p, a.g, a.m, a.v, a.pOut, a.mOut, a.vOut, count * 4];
      args.push(s.b1, s.nb1, s.b2, s.nb2, s.c1, s.c2, s.eps, s.lr, s.wd);
      Reflect.apply(s.wd === 0 ? plain : decay, undefined, args);
    },
  };
}
