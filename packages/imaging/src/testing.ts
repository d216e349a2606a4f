/**
 * Builders for hostile and synthetic files, shared by the imaging and import tests: a minimal DICOM
 * writer (explicit VR, little or big endian) and a PNG header that declares a huge image.
 */
import { crc32, deflateSync } from "node:zlib";

interface DicomElement {
  tag: [number, number];
  vr: string;
  value: string | number | number[] | Uint8Array;
}

export interface SyntheticDicomOptions {
  rows: number;
  cols: number;
  bitsAllocated?: 8 | 16;
  bitsStored?: number;
  signed?: boolean;
  samplesPerPixel?: number;
  photometric?: string;
  /** Samples in file order (planar configuration 0); ignored when `pixelBytes` is given. */
  pixels?: ArrayLike<number>;
  pixelBytes?: Uint8Array;
  /** Compressed frames written as encapsulated pixel data (one fragment each); needs a compressed transferSyntax. */
  fragments?: Uint8Array[];
  transferSyntax?: string;
  bigEndian?: boolean;
  windowCenter?: string;
  windowWidth?: string;
  rescaleSlope?: string;
  rescaleIntercept?: string;
  extra?: DicomElement[];
}

function encodeElement(el: DicomElement, little: boolean): Uint8Array {
  let body: Uint8Array;
  const { vr, value } = el;
  if (value instanceof Uint8Array) body = value;
  else if (vr === "US") {
    const list = Array.isArray(value) ? value : [Number(value)];
    body = new Uint8Array(list.length * 2);
    const dv = new DataView(body.buffer);
    list.forEach((v, i) => {
      dv.setUint16(i * 2, v, little);
    });
  } else {
    let s = String(value);
    if (s.length % 2 === 1) s += vr === "UI" ? "\0" : " ";
    body = new TextEncoder().encode(s);
  }
  if (body.length % 2 === 1) body = Uint8Array.from([...body, 0]);
  const long = ["OB", "OW", "OF", "SQ", "UT", "UN"].includes(vr);
  const head = new Uint8Array(long ? 12 : 8);
  const dv = new DataView(head.buffer);
  dv.setUint16(0, el.tag[0], little);
  dv.setUint16(2, el.tag[1], little);
  head[4] = vr.charCodeAt(0);
  head[5] = vr.charCodeAt(1);
  if (long) dv.setUint32(8, body.length, little);
  else dv.setUint16(6, body.length, little);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function syntheticDicom(o: SyntheticDicomOptions): Uint8Array {
  const bigEndian = o.bigEndian ?? false;
  const ts = o.transferSyntax ?? (bigEndian ? "1.2.840.10008.1.2.2" : "1.2.840.10008.1.2.1");
  const little = !bigEndian;
  const bitsAllocated = o.bitsAllocated ?? 16;
  const spp = o.samplesPerPixel ?? 1;
  let pixelBytes = o.pixelBytes;
  if (!pixelBytes) {
    const n = o.rows * o.cols * spp;
    pixelBytes = new Uint8Array(n * (bitsAllocated / 8));
    const dv = new DataView(pixelBytes.buffer);
    for (let i = 0; i < n; i++) {
      const v = o.pixels?.[i] ?? 0;
      if (bitsAllocated === 8) dv.setUint8(i, v & 0xff);
      else dv.setUint16(2 * i, v & 0xffff, little);
    }
  }
  const metaBody = concat([
    encodeElement({ tag: [0x0002, 0x0001], vr: "OB", value: Uint8Array.from([0, 1]) }, true),
    encodeElement({ tag: [0x0002, 0x0002], vr: "UI", value: "1.2.840.10008.5.1.4.1.1.1.1" }, true),
    encodeElement({ tag: [0x0002, 0x0003], vr: "UI", value: "1.2.3.4.5.6.7" }, true),
    encodeElement({ tag: [0x0002, 0x0010], vr: "UI", value: ts }, true),
  ]);
  const groupLength = new Uint8Array(12);
  const gl = new DataView(groupLength.buffer);
  gl.setUint16(0, 0x0002, true);
  gl.setUint16(2, 0x0000, true);
  groupLength[4] = 0x55; // U
  groupLength[5] = 0x4c; // L
  gl.setUint16(6, 4, true);
  gl.setUint32(8, metaBody.length, true);
  const elements: DicomElement[] = [
    { tag: [0x0008, 0x0060], vr: "CS", value: "DX" },
    ...(o.extra ?? []),
    { tag: [0x0028, 0x0002], vr: "US", value: spp },
    { tag: [0x0028, 0x0004], vr: "CS", value: o.photometric ?? "MONOCHROME2" },
    { tag: [0x0028, 0x0010], vr: "US", value: o.rows },
    { tag: [0x0028, 0x0011], vr: "US", value: o.cols },
    { tag: [0x0028, 0x0100], vr: "US", value: bitsAllocated },
    { tag: [0x0028, 0x0101], vr: "US", value: o.bitsStored ?? bitsAllocated },
    { tag: [0x0028, 0x0102], vr: "US", value: (o.bitsStored ?? bitsAllocated) - 1 },
    { tag: [0x0028, 0x0103], vr: "US", value: o.signed ? 1 : 0 },
  ];
  if (o.windowCenter) elements.push({ tag: [0x0028, 0x1050], vr: "DS", value: o.windowCenter });
  if (o.windowWidth) elements.push({ tag: [0x0028, 0x1051], vr: "DS", value: o.windowWidth });
  if (o.rescaleIntercept) elements.push({ tag: [0x0028, 0x1052], vr: "DS", value: o.rescaleIntercept });
  if (o.rescaleSlope) elements.push({ tag: [0x0028, 0x1053], vr: "DS", value: o.rescaleSlope });
  elements.sort((a, b) => a.tag[0] - b.tag[0] || a.tag[1] - b.tag[1]);
  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  const head = [preamble, groupLength, metaBody, ...elements.map((e) => encodeElement(e, little))];
  if (o.fragments) return concat([...head, encapsulated(o.fragments)]);
  return concat([
    ...head,
    encodeElement(
      { tag: [0x7fe0, 0x0010], vr: bitsAllocated === 8 ? "OB" : "OW", value: pixelBytes },
      little,
    ),
  ]);
}

/** Pixel Data of undefined length: an empty basic offset table item, one item per fragment, a delimiter. */
function encapsulated(fragments: Uint8Array[]): Uint8Array {
  const tagged = (group: number, element: number, length: number, vr?: string) => {
    const b = new Uint8Array(vr ? 12 : 8);
    const dv = new DataView(b.buffer);
    dv.setUint16(0, group, true);
    dv.setUint16(2, element, true);
    if (vr) {
      b[4] = vr.charCodeAt(0);
      b[5] = vr.charCodeAt(1);
      dv.setUint32(8, length, true);
    } else dv.setUint32(4, length, true);
    return b;
  };
  const parts: Uint8Array[] = [tagged(0x7fe0, 0x0010, 0xffffffff, "OB"), tagged(0xfffe, 0xe000, 0)];
  for (const f of fragments) {
    const even = f.length % 2 === 0 ? f : concat([f, new Uint8Array(1)]);
    parts.push(tagged(0xfffe, 0xe000, even.length), even);
  }
  parts.push(tagged(0xfffe, 0xe0dd, 0));
  return concat(parts);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  const typeAndData = concat([new TextEncoder().encode(type), data]);
  out.set(typeAndData, 4);
  dv.setUint32(8 + data.length, crc32(typeAndData) >>> 0);
  return out;
}

const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width: number, height: number, bitDepth: number): Uint8Array {
  const data = new Uint8Array(13);
  const dv = new DataView(data.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  data[8] = bitDepth;
  data[9] = 0; // grey
  return chunk("IHDR", data);
}

/** A real 16-bit grey PNG (written by hand, so the test does not depend on the decoder's own encoder). */
export function png16(width: number, height: number, values: ArrayLike<number>): Uint8Array {
  const rows = new Uint8Array(height * (1 + 2 * width));
  const dv = new DataView(rows.buffer);
  for (let y = 0; y < height; y++) {
    const at = y * (1 + 2 * width);
    rows[at] = 0; // filter: none
    for (let x = 0; x < width; x++) dv.setUint16(at + 1 + 2 * x, values[y * width + x] ?? 0, false);
  }
  return concat([
    PNG_SIGNATURE,
    ihdr(width, height, 16),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/** A valid PNG header declaring width x height 8-bit grey pixels, with a token IDAT: a decompression-bomb shape. */
export function pngDeclaring(width: number, height: number): Uint8Array {
  return concat([
    PNG_SIGNATURE,
    ihdr(width, height, 8),
    chunk("IDAT", Uint8Array.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk("IEND", new Uint8Array(0)),
  ]);
}
