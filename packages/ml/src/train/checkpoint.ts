import { readFile } from "node:fs/promises";
import type * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { writeFileAtomic } from "../io/files.js";

export interface ArrayEntry {
  shape: number[];
  data: Float32Array;
}

/** A checkpoint: JSON metadata plus named float32 arrays, in one file written atomically. */
export interface Checkpoint {
  meta: Record<string, unknown>;
  arrays: Map<string, ArrayEntry>;
}

const MAGIC = "XRAYCKPT1";

export async function saveCheckpoint(path: string, ckpt: Checkpoint): Promise<void> {
  const index: { name: string; shape: number[]; offset: number; length: number }[] = [];
  let offset = 0;
  for (const [name, a] of ckpt.arrays) {
    index.push({ name, shape: a.shape, offset, length: a.data.length });
    offset += a.data.length;
  }
  const header = new TextEncoder().encode(JSON.stringify({ meta: ckpt.meta, index }));
  const magic = new TextEncoder().encode(MAGIC);
  // magic | u32 header length | header | pad to 4 | float32 payload
  const headStart = magic.length + 4;
  const payloadStart = Math.ceil((headStart + header.length) / 4) * 4;
  const buf = new Uint8Array(payloadStart + offset * 4);
  buf.set(magic, 0);
  new DataView(buf.buffer).setUint32(magic.length, header.length, true);
  buf.set(header, headStart);
  const payload = new Float32Array(buf.buffer, payloadStart, offset);
  for (const [i, [, a]] of [...ckpt.arrays].entries()) payload.set(a.data, index[i]?.offset ?? 0);
  await writeFileAtomic(path, buf);
}

export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const raw = new Uint8Array(await readFile(path));
  const magic = new TextDecoder().decode(raw.subarray(0, MAGIC.length));
  if (magic !== MAGIC) throw new Error(`${path} is not a checkpoint`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const headerLen = view.getUint32(MAGIC.length, true);
  const headStart = MAGIC.length + 4;
  const header = JSON.parse(new TextDecoder().decode(raw.subarray(headStart, headStart + headerLen))) as {
    meta: Record<string, unknown>;
    index: { name: string; shape: number[]; offset: number; length: number }[];
  };
  const payloadStart = Math.ceil((headStart + headerLen) / 4) * 4;
  const payload = new Float32Array(raw.slice(payloadStart).buffer);
  const arrays = new Map<string, ArrayEntry>();
  for (const e of header.index) {
    arrays.set(e.name, { shape: e.shape, data: payload.slice(e.offset, e.offset + e.length) });
  }
  return { meta: header.meta, arrays };
}

/** All weights (trainable and batch-norm statistics) of a model as named arrays. */
export async function modelArrays(
  model: tfl.LayersModel,
  prefix: string,
  out: Map<string, ArrayEntry>,
): Promise<void> {
  const ws = model.getWeights();
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i] as tf.Tensor;
    out.set(`${prefix}/${i}`, { shape: w.shape.slice(), data: (await w.data()) as Float32Array });
  }
}

export function restoreModelArrays(
  model: tfl.LayersModel,
  prefix: string,
  arrays: Map<string, ArrayEntry>,
  tfc: typeof tf,
): void {
  const ws = model.getWeights();
  const values = ws.map((w, i) => {
    const a = arrays.get(`${prefix}/${i}`);
    if (!a || a.shape.join(",") !== w.shape.join(",")) throw new Error(`checkpoint lacks ${prefix}/${i}`);
    return tfc.tensor(a.data, a.shape);
  });
  model.setWeights(values);
  tfc.dispose(values);
}
