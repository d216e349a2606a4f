/**
 * Helper threads for the convolution loop (conv-simd.ts) when the wasm backend runs threaded:
 * its memory is then a SharedArrayBuffer, so worker threads can instantiate the same loop over the
 * same memory and take a share of the output rows. The calling thread does its own share and waits
 * (Atomics.wait; allowed on Node's main thread) until every helper reports its share done.
 *
 * Protocol, over one Int32Array `ctl` in a SharedArrayBuffer per helper: the caller writes a job
 * (module id, row count, chunk size, addresses, geometry) at JOB, bumps SEQ and notifies; the
 * helper, parked in Atomics.waitAsync on SEQ (so its event loop stays free for module messages),
 * claims chunks of rows from a counter shared by all threads (Atomics.add) and runs them until none
 * are left, writes SEQ's value to DONE and notifies. A new loop module (one per layer shape) is posted as a compiled
 * WebAssembly.Module; the caller waits on READY until the helper has instantiated it.
 */
import { Worker } from "node:worker_threads";

const SEQ = 0;
const DONE = 1;
const READY = 2;
/** Rows this helper has run, over its life (tests check that helpers take a share). */
const ROWS_DONE = 3;
const JOB = 4;
/**
 * The job: module id, total rows, rows per chunk, then the loop's `rows` parameters after r0, r1
 * (and before the thread index, which each thread appends: helper i passes i + 1).
 */
const JOB_LEN = 24;
const CTL_INTS = JOB + JOB_LEN;

/** The helper's code (plain JS, run with eval: no file to resolve from the package). */
const HELPER = `
const { workerData, parentPort } = require("node:worker_threads");
const { memory, ctlBuffer, nextBuffer, thread } = workerData;
const ctl = new Int32Array(ctlBuffer);
const next = new Int32Array(nextBuffer);
const rows = [];
parentPort.on("message", (m) => {
  let ok = true;
  try {
    const instance = new WebAssembly.Instance(m.module, { e: { m: memory } });
    rows[m.id] = instance.exports.rows;
  } catch {
    ok = false;
  }
  Atomics.store(ctl, ${READY}, ok ? m.id + 1 : -(m.id + 1));
  Atomics.notify(ctl, ${READY});
});
let seen = 0;
(async () => {
  for (;;) {
    const w = Atomics.waitAsync(ctl, ${SEQ}, seen);
    if (w.async) await w.value;
    seen = Atomics.load(ctl, ${SEQ});
    const j = ctl.subarray(${JOB}, ${JOB + JOB_LEN});
    let ok = true;
    try {
      const [id, total, chunk] = j;
      const rest = Array.from(j.subarray(3));
      for (;;) {
        const r0 = Atomics.add(next, 0, chunk);
        if (r0 >= total) break;
        const r1 = Math.min(total, r0 + chunk);
        rows[id](r0, r1, ...rest, thread);
        Atomics.add(ctl, ${ROWS_DONE}, r1 - r0);
      }
    } catch {
      ok = false;
    }
    Atomics.store(ctl, ${DONE}, ok ? seen : -seen);
    Atomics.notify(ctl, ${DONE});
  }
})();
`;

interface Helper {
  worker: Worker;
  ctl: Int32Array;
  seq: number;
  /** Module ids this helper has instantiated. */
  known: Set<number>;
}

export class RowPool {
  private readonly helpers: Helper[];
  private readonly modules: WebAssembly.Module[] = [];
  /** The next unclaimed row of the running job (all threads claim chunks with Atomics.add). */
  private readonly next = new Int32Array(new SharedArrayBuffer(4));

  constructor(memory: WebAssembly.Memory, helpers: number) {
    const nextBuffer = this.next.buffer;
    this.helpers = Array.from({ length: helpers }, (_, i) => {
      const ctl = new Int32Array(new SharedArrayBuffer(CTL_INTS * 4));
      const workerData = { memory, ctlBuffer: ctl.buffer, nextBuffer, thread: i + 1 };
      const worker = new Worker(HELPER, { eval: true, workerData });
      // Helpers must not keep a finished script alive.
      worker.unref();
      return { worker, ctl, seq: 0, known: new Set<number>() };
    });
  }

  get size(): number {
    return this.helpers.length + 1;
  }

  /** Rows the helpers have run so far, all jobs together. */
  helperRows(): number {
    return this.helpers.reduce((sum, h) => sum + Atomics.load(h.ctl, ROWS_DONE), 0);
  }

  /** Registers a compiled loop module; returns its id for `run`. */
  add(module: WebAssembly.Module): number {
    this.modules.push(module);
    return this.modules.length - 1;
  }

  /**
   * Runs rows [0, total) of one job: the caller (with `own`, its instance of the same module) and
   * the helpers claim chunks of rows from a shared counter until none are left, so a thread that
   * wakes late or runs slower (this VM's neighbours) takes fewer; then the caller waits for all.
   */
  run(id: number, job: number[], total: number, own: (r0: number, r1: number) => void): void {
    if (job.length !== JOB_LEN - 3) throw new Error(`conv loop pool: a job has ${JOB_LEN - 3} values`);
    // About 8 chunks per thread: small enough to balance, large enough that claiming costs nothing.
    const chunk = Math.max(1, Math.ceil(total / (this.size * 8)));
    Atomics.store(this.next, 0, 0);
    const started: Helper[] = [];
    for (const hlp of this.helpers) {
      if (total <= chunk) break; // one chunk: the caller alone
      this.ensure(hlp, id);
      hlp.ctl.set([id, total, chunk, ...job], JOB);
      hlp.seq += 1;
      Atomics.store(hlp.ctl, SEQ, hlp.seq);
      Atomics.notify(hlp.ctl, SEQ);
      started.push(hlp);
    }
    for (;;) {
      const r0 = Atomics.add(this.next, 0, chunk);
      if (r0 >= total) break;
      own(r0, Math.min(total, r0 + chunk));
    }
    let failed = false;
    for (const hlp of started) {
      for (;;) {
        const done = Atomics.load(hlp.ctl, DONE);
        if (done === hlp.seq) break;
        if (done === -hlp.seq) {
          failed = true;
          break;
        }
        Atomics.wait(hlp.ctl, DONE, done, 10_000);
      }
    }
    if (failed) throw new Error("conv loop pool: a helper thread failed on its rows");
  }

  private ensure(hlp: Helper, id: number): void {
    if (hlp.known.has(id)) return;
    const module = this.modules[id];
    if (module === undefined) throw new Error(`conv loop pool: no module ${id}`);
    hlp.worker.postMessage({ id, module });
    for (;;) {
      const ready = Atomics.load(hlp.ctl, READY);
      if (ready === id + 1) break;
      if (ready === -(id + 1)) throw new Error("conv loop pool: a helper thread could not load the loop");
      // The helper's event loop takes the message while it is parked in waitAsync.
      if (Atomics.wait(hlp.ctl, READY, ready, 30_000) === "timed-out") {
        throw new Error("conv loop pool: a helper thread did not load the loop within 30 s");
      }
    }
    hlp.known.add(id);
  }
}
