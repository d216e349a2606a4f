import { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { adamwModuleBytes, makeSimdAdamW } from "../backend/adamw-simd";
import { seededValues } from "../backend/conv-reference";
import { initBackend } from "../backend/index";
import { backendMemory } from "../backend/wasm-asm";
import { ADAMW_UPDATE, setAdamWSimd } from "../backend/wasm-js-kernels";
import { AdamW, fusedAdamWActive, type OptimizerState, setFusedAdamW } from "./optimizer";

beforeAll(async () => {
  const info = await initBackend({ prefer: "wasm", log: () => {} });
  expect(info.name).toBe("wasm");
});

afterEach(async () => {
  setFusedAdamW(true);
  setAdamWSimd(true);
  await tf.setBackend("wasm");
});

/** Odd shapes: decay applies to the rank-4 and rank-2 kernels, not to the rank-1 ones. */
const SHAPES: number[][] = [[3, 3, 5, 7], [13, 11], [17], [1], [2, 1, 1, 3]];
const OPTS = { weightDecay: 0.05 };
const LRS = [1e-3, 3e-3, 2e-2, 5e-4, 1e-2, 7e-3];

function initValues(): Float32Array[] {
  return SHAPES.map((s, k) => Float32Array.from(seededValues(tf.util.sizeFromShape(s), 101 + k)));
}

/** Gradients of step t: scales from 1e-4 to 10 across variables and steps, some exact zeros. */
function gradValues(t: number): Float32Array[] {
  return SHAPES.map((s, k) => {
    const n = tf.util.sizeFromShape(s);
    const raw = seededValues(n, 1000 * t + 7 * k + 3);
    const scale = 10 ** (((t + k) % 6) - 4);
    return Float32Array.from(raw, (r, i) => (i % 5 === 2 ? 0 : r * scale));
  });
}

function makeVars(values: Float32Array[]): tf.Variable[] {
  return values.map((v, k) => tf.variable(tf.tensor(v, SHAPES[k]), true, `p${k}_${Math.random()}`));
}

async function read(ts: tf.Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map(async (t) => (await t.data()) as Float32Array));
}

function applyStep(opt: AdamW, t: number): void {
  const gs = gradValues(t).map((g, k) => tf.tensor(g, SHAPES[k]));
  opt.apply(gs, LRS[t % LRS.length] ?? 1e-3);
  tf.dispose(gs);
}

interface Result {
  params: Float32Array[];
  state: OptimizerState;
}

/** `steps` AdamW steps from initValues() on the active backend. */
async function train(steps: number): Promise<Result> {
  const vars = makeVars(initValues());
  const opt = new AdamW(vars, OPTS);
  for (let t = 0; t < steps; t++) applyStep(opt, t);
  const result = { params: await read(vars), state: await opt.getState() };
  opt.dispose();
  tf.dispose(vars);
  return result;
}

/** Largest element-wise |a - b| / (|b| + 1e-30). */
function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((x, k) => {
    const y = b[k];
    if (y === undefined || y.length !== x.length) throw new Error(`array ${k} differs in length`);
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs((x[i] ?? 0) - (y[i] ?? 0));
      if (d > 0) worst = Math.max(worst, d / (Math.abs(y[i] ?? 0) + 1e-30));
    }
  });
  return worst;
}

function expectClose(a: Result, b: Result): void {
  expect(a.state.step).toBe(b.state.step);
  expect(maxRelDiff(a.params, b.params)).toBeLessThanOrEqual(1e-6);
  expect(
    maxRelDiff(
      a.state.slots.map((s) => s.m),
      b.state.slots.map((s) => s.m),
    ),
  ).toBeLessThanOrEqual(1e-6);
  expect(
    maxRelDiff(
      a.state.slots.map((s) => s.v),
      b.state.slots.map((s) => s.v),
    ),
  ).toBeLessThanOrEqual(1e-6);
}

describe("AdamW fused update on wasm", () => {
  it("runs one XrayAdamWUpdate per variable and no elementwise ops", async () => {
    expect(fusedAdamWActive()).toBe(true);
    const vars = makeVars(initValues());
    const opt = new AdamW(vars, OPTS);
    const gs = gradValues(0).map((g, k) => tf.tensor(g, SHAPES[k]));
    const prof = await tf.profile(() => opt.apply(gs, 1e-3));
    const names = prof.kernels.map((k) => k.name);
    expect(names.filter((n) => n === ADAMW_UPDATE)).toHaveLength(SHAPES.length);
    expect(names.filter((n) => n !== ADAMW_UPDATE)).toEqual([]);

    setFusedAdamW(false);
    expect(fusedAdamWActive()).toBe(false);
    const ops = await tf.profile(() => opt.apply(gs, 1e-3));
    expect(ops.kernels.map((k) => k.name)).not.toContain(ADAMW_UPDATE);
    expect(ops.kernels.length).toBeGreaterThan(10 * SHAPES.length);
    tf.dispose(gs);
    opt.dispose();
    tf.dispose(vars);
  });

  it("finds the backend's memory and builds the SIMD module over it", () => {
    expect(WebAssembly.validate(adamwModuleBytes(false))).toBe(true);
    expect(WebAssembly.validate(adamwModuleBytes(true))).toBe(true);
    const backend = tf.backend();
    if (!(backend instanceof BackendWasm)) throw new Error("wasm backend expected");
    const memory = backendMemory(backend.wasm);
    expect(memory).not.toBeNull();
    if (memory) expect(makeSimdAdamW(memory)).not.toBeNull();
  });

  it("matches the op sequence on wasm and on cpu over several steps", async () => {
    const fused = await train(6);
    setAdamWSimd(false);
    const fusedJs = await train(6);
    setFusedAdamW(false);
    const ops = await train(6);
    await tf.setBackend("cpu");
    const cpu = await train(6);
    expectClose(fused, ops);
    expectClose(fused, cpu);
    // float32 rounding of every operation, as the ops round: the same bits.
    expect(fused).toEqual(ops);
    expect(fused).toEqual(cpu);
    expect(fusedJs).toEqual(ops);
  });

  it("applies decay to rank >= 2 variables only", async () => {
    const vars = makeVars(initValues());
    const noDecay = makeVars(initValues());
    const a = new AdamW(vars, { weightDecay: 0.5 });
    const b = new AdamW(noDecay, { weightDecay: 0 });
    applyStep(a, 0);
    applyStep(b, 0);
    const [pa, pb] = [await read(vars), await read(noDecay)];
    SHAPES.forEach((s, k) => {
      if (s.length >= 2) expect(pa[k]).not.toEqual(pb[k]);
      else expect(pa[k]).toEqual(pb[k]);
    });
    a.dispose();
    b.dispose();
    tf.dispose([...vars, ...noDecay]);
  });

  it("scales each variable's learning rate (decay included) on the fused kernel and the ops", async () => {
    const scales = [0.25, 0, 1, 0.5, 0.1];
    const runs: { plain: Float32Array[]; scaled: Float32Array[] }[] = [];
    for (const fused of [true, false]) {
      setFusedAdamW(fused);
      const plainVars = makeVars(initValues());
      const scaledVars = makeVars(initValues());
      const a = new AdamW(plainVars, OPTS);
      const b = new AdamW(scaledVars, OPTS);
      const gs = gradValues(2).map((g, k) => tf.tensor(g, SHAPES[k]));
      a.apply(gs, 1e-2);
      b.apply(gs, 1e-2, scales);
      tf.dispose(gs);
      runs.push({ plain: await read(plainVars), scaled: await read(scaledVars) });
      a.dispose();
      b.dispose();
      tf.dispose([...plainVars, ...scaledVars]);
    }
    const init = initValues();
    for (const { plain, scaled } of runs) {
      SHAPES.forEach((_, k) => {
        const x0 = init[k] ?? new Float32Array();
        const p = plain[k] ?? new Float32Array();
        const q = scaled[k] ?? new Float32Array();
        const scale = scales[k] ?? 1;
        if (scale === 0) expect(q).toEqual(x0);
        if (scale === 1) expect(q).toEqual(p);
        // The first step's moves are the unscaled ones times the scale (moments do not see the lr).
        let moved = 0;
        for (let i = 0; i < x0.length; i++) {
          const dp = (p[i] ?? 0) - (x0[i] ?? 0);
          const dq = (q[i] ?? 0) - (x0[i] ?? 0);
          expect(Math.abs(dq - scale * dp)).toBeLessThanOrEqual(1e-6 * Math.abs(x0[i] ?? 0) + 1e-7);
          if (dp !== 0) moved++;
        }
        expect(moved).toBeGreaterThan(0);
      });
    }
    expect(runs[0]?.scaled).toEqual(runs[1]?.scaled);
  });

  it("leaves the old values of a variable intact (new tensors, not written in place)", async () => {
    const vars = makeVars(initValues());
    const opt = new AdamW(vars, OPTS);
    // Identity on wasm shares the data id: a clone sees any in-place write.
    const before = vars.map((v) => tf.clone(v));
    const grads = gradValues(1).map((g, k) => tf.tensor(g, SHAPES[k]));
    const gradCopies = await read(grads);
    opt.apply(grads, 1e-2);
    expect(await read(before)).toEqual(initValues());
    expect(await read(grads)).toEqual(gradCopies);
    expect(maxRelDiff(await read(vars), initValues())).toBeGreaterThan(0);
    tf.dispose([...before, ...grads]);
    opt.dispose();
    tf.dispose(vars);
  });

  it("leaks no tensors per step", () => {
    const vars = makeVars(initValues());
    const opt = new AdamW(vars, OPTS);
    applyStep(opt, 0);
    const n0 = tf.memory().numTensors;
    for (let t = 1; t < 5; t++) applyStep(opt, t);
    expect(tf.memory().numTensors).toBe(n0);
    opt.dispose();
    tf.dispose(vars);
  });

  it("resumes exactly from getState/setState", async () => {
    const straight = await train(5);
    const vars = makeVars(initValues());
    const opt = new AdamW(vars, OPTS);
    for (let t = 0; t < 3; t++) applyStep(opt, t);
    const state = await opt.getState();
    const params = await read(vars);
    opt.dispose();
    tf.dispose(vars);

    const vars2 = makeVars(params);
    const opt2 = new AdamW(vars2, OPTS);
    opt2.setState(state);
    for (let t = 3; t < 5; t++) applyStep(opt2, t);
    expect(await read(vars2)).toEqual(straight.params);
    const resumed = await opt2.getState();
    expect(resumed.step).toBe(5);
    expect(resumed.slots).toEqual(straight.state.slots);
    opt2.dispose();
    tf.dispose(vars2);
  });
});
