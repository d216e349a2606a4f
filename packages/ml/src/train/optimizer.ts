import * as tf from "@tensorflow/tfjs-core";
import { ADAMW_UPDATE, registerAdamWKernel } from "../backend/wasm-js-kernels.js";

export interface OptimizerState {
  step: number;
  /** Per variable: first and second moments (AdamW) or velocity (SGD, `v` unused). */
  slots: { m: Float32Array; v: Float32Array }[];
}

let fusedOnWasm = true;

/**
 * On the wasm backend AdamW updates each variable with one fused kernel (XrayAdamWUpdate: new p,
 * m and v in one pass, bit for bit the op sequence) instead of ~13 ops; off switches every AdamW
 * in the process back to the op sequence (tests, A/B benchmarks). Other backends always use the ops.
 */
export function setFusedAdamW(on: boolean): void {
  fusedOnWasm = on;
}

/** Whether apply() uses the fused kernel now (wasm backend active and the switch on). */
export function fusedAdamWActive(): boolean {
  if (!fusedOnWasm || tf.getBackend() !== "wasm") return false;
  registerAdamWKernel();
  return true;
}

/**
 * AdamW with decoupled weight decay and a learning rate passed per step (the schedule lives outside).
 * Its whole state is explicit tensors so checkpoints can restore it exactly. Variables are addressed
 * by position in the list given at construction.
 */
export class AdamW {
  readonly vars: tf.Variable[];
  private m: tf.Variable[];
  private v: tf.Variable[];
  step = 0;
  constructor(
    vars: tf.Variable[],
    readonly opts: { beta1?: number; beta2?: number; eps?: number; weightDecay?: number } = {},
  ) {
    this.vars = vars;
    this.m = vars.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
    this.v = vars.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  /**
   * grads[i] belongs to vars[i]; a missing gradient leaves that variable untouched. lrScales[i]
   * (default 1) multiplies the learning rate of vars[i], weight decay included: the way to train a
   * pretrained encoder slower than new heads (scaling its gradients instead would do nothing, since
   * Adam divides the gradient's scale out).
   */
  apply(grads: (tf.Tensor | undefined)[], lr: number, lrScales?: readonly number[]): void {
    const b1 = this.opts.beta1 ?? 0.9;
    const b2 = this.opts.beta2 ?? 0.999;
    const eps = this.opts.eps ?? 1e-8;
    const wd = this.opts.weightDecay ?? 0;
    this.step += 1;
    const c1 = 1 - b1 ** this.step;
    const c2 = 1 - b2 ** this.step;
    const fused = fusedAdamWActive();
    tf.tidy(() => {
      this.vars.forEach((x, i) => {
        const g = grads[i];
        const m = this.m[i];
        const v = this.v[i];
        if (!g || !m || !v) return;
        const lrI = lr * (lrScales?.[i] ?? 1);
        if (fused && x.dtype === "float32" && g.dtype === "float32") {
          const attrs = {
            lr: lrI,
            beta1: b1,
            beta2: b2,
            eps,
            weightDecay: wd > 0 && x.rank >= 2 ? wd : 0,
            c1,
            c2,
          };
          const out = tf.engine().runKernel<tf.Tensor[]>(ADAMW_UPDATE, { p: x, g, m, v }, attrs);
          const [p2, m2, v2] = out;
          if (out.length !== 3 || !p2 || !m2 || !v2) throw new Error(`${ADAMW_UPDATE}: 3 outputs expected`);
          m.assign(m2);
          v.assign(v2);
          x.assign(p2);
          return;
        }
        const m2 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const v2 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        m.assign(m2);
        v.assign(v2);
        let update = tf.div(tf.div(m2, c1), tf.add(tf.sqrt(tf.div(v2, c2)), eps));
        // Decoupled decay only on kernels (rank >= 2), not on biases or batch-norm parameters.
        if (wd > 0 && x.rank >= 2) update = tf.add(update, tf.mul(x, wd));
        x.assign(tf.sub(x, tf.mul(update, lrI)));
      });
    });
  }

  async getState(): Promise<OptimizerState> {
    const slots: OptimizerState["slots"] = [];
    for (let i = 0; i < this.vars.length; i++) {
      const m = this.m[i];
      const v = this.v[i];
      if (!m || !v) throw new Error("optimizer slot missing");
      slots.push({ m: (await m.data()) as Float32Array, v: (await v.data()) as Float32Array });
    }
    return { step: this.step, slots };
  }

  setState(state: OptimizerState): void {
    if (state.slots.length !== this.vars.length) {
      throw new Error(
        `optimizer state has ${state.slots.length} slots, model has ${this.vars.length} variables`,
      );
    }
    this.step = state.step;
    tf.tidy(() => {
      state.slots.forEach((s, i) => {
        const m = this.m[i];
        const v = this.v[i];
        if (!m || !v) return;
        m.assign(tf.tensor(s.m, m.shape));
        v.assign(tf.tensor(s.v, v.shape));
      });
    });
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
