import { readFile } from "node:fs/promises";
import { inflateRawSync } from "node:zlib";

export interface NpyArray {
  dtype: string;
  shape: number[];
  /** Raw little-endian data, typed by dtype. */
  data: Uint8Array | Int32Array | Int16Array | Float32Array | Float64Array | BigInt64Array;
}

/** Parses one .npy file (format 1.x/2.x, C order, little-endian numeric dtypes). */
export function parseNpy(buf: Uint8Array): NpyArray {
  if (buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== "NUMPY")
    throw new Error("not a .npy file");
  const major = buf[6] ?? 1;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = major >= 2 ? view.getUint32(8, true) : view.getUint16(8, true);
  const headerStart = major >= 2 ? 12 : 10;
  const header = new TextDecoder().decode(buf.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw new Error(`bad .npy header: ${header}`);
  if (fortran === "True") throw new Error("Fortran-order .npy is not supported");
  const shape = shapeStr
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const bytes = buf.slice(headerStart + headerLen);
  const ab = bytes.buffer;
  const dtype = descr.replace(/^[<|=]/, "");
  if (descr.startsWith(">")) throw new Error("big-endian .npy is not supported");
  switch (dtype) {
    case "u1":
    case "b1":
      return { dtype, shape, data: bytes };
    case "i2":
      return { dtype, shape, data: new Int16Array(ab) };
    case "i4":
      return { dtype, shape, data: new Int32Array(ab) };
    case "i8":
      return { dtype, shape, data: new BigInt64Array(ab) };
    case "f4":
      return { dtype, shape, data: new Float32Array(ab) };
    case "f8":
      return { dtype, shape, data: new Float64Array(ab) };
    default:
      throw new Error(`unsupported .npy dtype ${descr}`);
  }
}

/** Reads a .npz (a zip of .npy files, stored or deflated) with node:zlib; no zip library needed. */
export async function readNpz(path: string): Promise<Map<string, NpyArray>> {
  const buf = new Uint8Array(await readFile(path));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // End of central directory: scan back for its signature.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${path}: not a zip file`);
  const entries = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  const out = new Map<string, NpyArray>();
  for (let e = 0; e < entries; e++) {
    if (view.getUint32(p, true) !== 0x02014b50) throw new Error("bad zip central directory");
    const method = view.getUint16(p + 10, true);
    let compSize = view.getUint32(p + 20, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localOff = view.getUint32(p + 42, true);
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field (numpy writes it for large arrays)
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = view.getUint16(x, true);
      const sz = view.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (view.getUint32(p + 24, true) === 0xffffffff) q += 8;
        if (compSize === 0xffffffff) {
          compSize = Number(view.getBigUint64(q, true));
          q += 8;
        }
        if (localOff === 0xffffffff) localOff = Number(view.getBigUint64(q, true));
      }
      x += 4 + sz;
    }
    p = xEnd + commentLen;
    const lNameLen = view.getUint16(localOff + 26, true);
    const lExtraLen = view.getUint16(localOff + 28, true);
    const start = localOff + 30 + lNameLen + lExtraLen;
    const comp = buf.subarray(start, start + compSize);
    let raw: Uint8Array;
    if (method === 0) raw = comp;
    else if (method === 8) raw = new Uint8Array(inflateRawSync(comp));
    else throw new Error(`${name}: zip method ${method} not supported`);
    out.set(name.replace(/\.npy$/, ""), parseNpy(raw));
  }
  return out;
}
