import dicomParser, { type DataSet } from "dicom-parser";
import sharp from "sharp";
import { decodeJpeg2000 } from "./jpeg2000";
import { rgbToLuma, type VoiWindow } from "./normalize";
import { ImageRefusal, thrownMessage } from "./refusal";

export const TRANSFER_SYNTAX_NAMES: Record<string, string> = {
  "1.2.840.10008.1.2": "Implicit VR Little Endian",
  "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
  "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
  "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
  "1.2.840.10008.1.2.4.50": "JPEG Baseline (Process 1)",
  "1.2.840.10008.1.2.4.51": "JPEG Extended (Process 2 & 4)",
  "1.2.840.10008.1.2.4.57": "JPEG Lossless, Non-Hierarchical (Process 14)",
  "1.2.840.10008.1.2.4.70": "JPEG Lossless, First-Order Prediction (Process 14 SV1)",
  "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
  "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
  "1.2.840.10008.1.2.4.90": "JPEG 2000 (Lossless Only)",
  "1.2.840.10008.1.2.4.91": "JPEG 2000",
  "1.2.840.10008.1.2.4.201": "High-Throughput JPEG 2000 (Lossless Only)",
  "1.2.840.10008.1.2.4.202": "High-Throughput JPEG 2000 with RPCL Options (Lossless Only)",
  "1.2.840.10008.1.2.4.203": "High-Throughput JPEG 2000",
  "1.2.840.10008.1.2.5": "RLE Lossless",
  "1.2.840.10008.1.2.4.100": "MPEG2 Main Profile",
  "1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264",
};

const UNCOMPRESSED = new Set(["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"]);
const JPEG2000 = new Set(["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"]);
const JPEG_BASELINE = "1.2.840.10008.1.2.4.50";

export function transferSyntaxLabel(uid: string): string {
  const name = TRANSFER_SYNTAX_NAMES[uid];
  return name ? `${name}, ${uid}` : uid;
}

/** A DICOM file's first frame as modality values (rescale applied), one grey value per pixel. */
export interface DicomFrame {
  width: number;
  height: number;
  bitsStored: number;
  values: Float32Array;
  photometric: string;
  /** First window of the file, when it has one. */
  window: VoiWindow | null;
  /** True when the values are plain unsigned 8-bit (or the luma of 8-bit RGB), no rescale: usable as grey as they are. */
  plain8Bit: boolean;
  transferSyntax: string;
  frames: number;
  tags: Record<string, string | number>;
  species: string | null;
  bodyPart: string | null;
  view: string | null;
  notes: string[];
}

export interface DicomLimits {
  maxPixels: number;
  maxDimension: number;
}

export function hasDicmMarker(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 132 &&
    bytes[128] === 0x44 &&
    bytes[129] === 0x49 &&
    bytes[130] === 0x43 &&
    bytes[131] === 0x4d
  );
}

function firstNumber(ds: DataSet, tag: string): number | null {
  const raw = ds.string(tag);
  if (raw === undefined || raw.trim() === "") return null;
  const first = Number.parseFloat(raw.split("\\")[0] ?? "");
  return Number.isFinite(first) ? first : null;
}

function text(ds: DataSet, tag: string): string | null {
  const raw = ds.elements[tag] ? ds.string(tag) : undefined;
  const trimmed = raw?.replace(/\0/g, "").trim();
  return trimmed ? trimmed : null;
}

function uint16(ds: DataSet, tag: string): number | null {
  return ds.elements[tag] ? (ds.uint16(tag) ?? null) : null;
}

/** Species words found in DICOM text fields, mapped to the platform's short names. */
export function speciesFromText(value: string | null): string | null {
  if (!value) return null;
  if (/\b(canine|canis|dog)\b/i.test(value)) return "dog";
  if (/\b(feline|felis|cat)\b/i.test(value)) return "cat";
  if (/\b(equine|equus|horse)\b/i.test(value)) return "horse";
  if (/\b(homo sapiens|human)\b/i.test(value)) return "human";
  return null;
}

const VIEW_WORDS: Array<[RegExp, string]> = [
  [/\b(lateral|lat|ll|rl)\b/i, "lateral"],
  [/\b(ventrodorsal|vd)\b/i, "ventrodorsal"],
  [/\b(dorsoventral|dv)\b/i, "dorsoventral"],
  [/\b(ap)\b/i, "ap"],
  [/\b(pa)\b/i, "pa"],
];

function viewFrom(viewPosition: string | null, description: string | null): string | null {
  for (const source of [viewPosition, description]) {
    if (!source) continue;
    for (const [re, name] of VIEW_WORDS) if (re.test(source)) return name;
  }
  return viewPosition ? viewPosition.toLowerCase() : null;
}

function parse(bytes: Uint8Array): DataSet {
  try {
    return dicomParser.parseDicom(bytes);
  } catch (err) {
    const inner = err && typeof err === "object" && "exception" in err ? err.exception : err;
    const message = thrownMessage(inner);
    if (/past end|beyond|overrun|overread|end of buffer/i.test(message))
      throw new ImageRefusal("truncated", `DICOM file is truncated or corrupt (${message})`);
    if (/DICM prefix/i.test(message))
      throw new ImageRefusal("not_dicom", "not a DICOM file: no 'DICM' marker at byte 128");
    throw new ImageRefusal("corrupt", `DICOM file could not be parsed: ${message}`);
  }
}

interface RawSamples {
  samples: ArrayLike<number>;
  components: number;
  planar: boolean;
  photometric: string;
  bitsStored: number;
  signed: boolean;
}

function readUncompressed(
  ds: DataSet,
  opts: {
    rows: number;
    cols: number;
    spp: number;
    bitsAllocated: number;
    bitsStored: number;
    signed: boolean;
    bigEndian: boolean;
    photometric: string;
    planar: boolean;
  },
): RawSamples {
  const el = ds.elements.x7fe00010!;
  const count = opts.rows * opts.cols * opts.spp;
  const bytesPer = opts.bitsAllocated / 8;
  const need = count * bytesPer;
  const available = Math.min(el.length, ds.byteArray.length - el.dataOffset);
  if (available < need)
    throw new ImageRefusal(
      "truncated",
      `DICOM pixel data is truncated: ${opts.rows} x ${opts.cols} x ${opts.spp} samples need ${need} bytes, the file has ${Math.max(available, 0)}`,
    );
  const view = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, need);
  const out = new Float32Array(count);
  const mask = opts.bitsStored >= 32 ? 0xffffffff : 2 ** opts.bitsStored - 1;
  const signBit = 2 ** (opts.bitsStored - 1);
  const little = !opts.bigEndian;
  for (let i = 0; i < count; i++) {
    let v = bytesPer === 1 ? view.getUint8(i) : view.getUint16(2 * i, little);
    v &= mask;
    if (opts.signed && v >= signBit) v -= 2 * signBit;
    out[i] = v;
  }
  return {
    samples: out,
    components: opts.spp,
    planar: opts.planar,
    photometric: opts.photometric,
    bitsStored: opts.bitsStored,
    signed: opts.signed,
  };
}

function encapsulatedFrame(ds: DataSet): Uint8Array {
  const el = ds.elements.x7fe00010!;
  try {
    const fragments = el.fragments ?? [];
    if (fragments.length === 0) throw new Error("no fragments");
    const frames = firstNumber(ds, "x00280008") ?? 1;
    if (frames <= 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length);
    const table =
      el.basicOffsetTable && el.basicOffsetTable.length > 0
        ? el.basicOffsetTable
        : dicomParser.createJPEGBasicOffsetTable(ds, el);
    return dicomParser.readEncapsulatedImageFrame(ds, el, 0, table);
  } catch (err) {
    throw new ImageRefusal("corrupt", `compressed DICOM pixel data is damaged: ${thrownMessage(err)}`);
  }
}

export async function decodeDicom(bytes: Uint8Array, limits: DicomLimits): Promise<DicomFrame> {
  const ds = parse(bytes);
  const transferSyntax = text(ds, "x00020010") ?? "1.2.840.10008.1.2";
  const rows = uint16(ds, "x00280010");
  const cols = uint16(ds, "x00280011");
  const pixel = ds.elements.x7fe00010;
  if (!pixel || rows === null || cols === null)
    throw new ImageRefusal("not_dicom", "DICOM file holds no image (no Pixel Data, Rows or Columns)");
  if (rows === 0 || cols === 0)
    throw new ImageRefusal("corrupt", `DICOM image has no pixels (${cols} x ${rows})`);
  if (rows > limits.maxDimension || cols > limits.maxDimension || rows * cols > limits.maxPixels)
    throw new ImageRefusal(
      "too_many_pixels",
      `DICOM image declares ${cols} x ${rows} pixels, over the limit (${limits.maxDimension} px a side, ${limits.maxPixels} pixels)`,
    );
  const spp = uint16(ds, "x00280002") ?? 1;
  const bitsAllocated = uint16(ds, "x00280100") ?? 16;
  const bitsStored = uint16(ds, "x00280101") ?? bitsAllocated;
  const signed = (uint16(ds, "x00280103") ?? 0) === 1;
  const planar = (uint16(ds, "x00280006") ?? 0) === 1;
  const photometric = (text(ds, "x00280004") ?? (spp === 3 ? "RGB" : "MONOCHROME2")).toUpperCase();
  const frames = Math.max(1, Math.round(firstNumber(ds, "x00280008") ?? 1));
  const slope = firstNumber(ds, "x00281053") ?? 1;
  const intercept = firstNumber(ds, "x00281052") ?? 0;
  const center = firstNumber(ds, "x00281050");
  const width = firstNumber(ds, "x00281051");
  const notes: string[] = [];
  if (frames > 1) notes.push(`first frame of ${frames}`);

  if (
    !["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_ICT", "YBR_RCT", "YBR_FULL_422"].includes(
      photometric,
    )
  )
    throw new ImageRefusal(
      "unsupported_photometric",
      `DICOM photometric interpretation ${photometric} is not supported (grey MONOCHROME1/2 and RGB are)`,
    );
  if (spp !== 1 && spp !== 3)
    throw new ImageRefusal(
      "unsupported_pixel_format",
      `DICOM with ${spp} samples per pixel is not supported`,
    );

  let raw: RawSamples;
  if (UNCOMPRESSED.has(transferSyntax)) {
    if (bitsAllocated !== 8 && bitsAllocated !== 16)
      throw new ImageRefusal(
        "unsupported_pixel_format",
        `DICOM with ${bitsAllocated} bits allocated per sample is not supported (8 and 16 are)`,
      );
    if (spp === 3 && photometric !== "RGB" && photometric !== "YBR_FULL")
      throw new ImageRefusal(
        "unsupported_photometric",
        `uncompressed DICOM colour ${photometric} is not supported (RGB and YBR_FULL are)`,
      );
    raw = readUncompressed(ds, {
      rows,
      cols,
      spp,
      bitsAllocated,
      bitsStored,
      signed,
      bigEndian: transferSyntax === "1.2.840.10008.1.2.2",
      photometric,
      planar,
    });
  } else if (JPEG2000.has(transferSyntax)) {
    const frame = await decodeJpeg2000(encapsulatedFrame(ds), limits.maxPixels);
    if (frame.width !== cols || frame.height !== rows)
      notes.push(`JPEG 2000 stream is ${frame.width} x ${frame.height}, header says ${cols} x ${rows}`);
    if (frame.components !== 1 && frame.components !== 3)
      throw new ImageRefusal(
        "unsupported_pixel_format",
        `JPEG 2000 stream with ${frame.components} components is not supported`,
      );
    notes.push(`JPEG 2000 decoded (${transferSyntaxLabel(transferSyntax)})`);
    raw = {
      samples: frame.samples,
      components: frame.components,
      planar: false,
      // OpenJPEG undoes the colour transform of YBR_ICT / YBR_RCT streams, so 3 components are RGB.
      photometric: frame.components === 3 ? "RGB" : photometric,
      bitsStored: Math.min(bitsStored, frame.bitsPerSample),
      signed: frame.signed,
    };
    return finish(ds, raw, frame.width, frame.height, {
      transferSyntax,
      frames,
      slope,
      intercept,
      center,
      width,
      notes,
    });
  } else if (transferSyntax === JPEG_BASELINE) {
    const jpeg = encapsulatedFrame(ds);
    try {
      const { data, info } = await sharp(jpeg, { limitInputPixels: limits.maxPixels })
        .toColourspace("b-w")
        .raw()
        .toBuffer({ resolveWithObject: true });
      notes.push("JPEG baseline decoded");
      raw = { samples: data, components: 1, planar: false, photometric, bitsStored: 8, signed: false };
      return finish(ds, raw, info.width, info.height, {
        transferSyntax,
        frames,
        slope,
        intercept,
        center,
        width,
        notes,
      });
    } catch (err) {
      throw new ImageRefusal(
        "corrupt",
        `JPEG baseline DICOM pixel data could not be decoded: ${thrownMessage(err)}`,
      );
    }
  } else {
    throw new ImageRefusal(
      "unsupported_transfer_syntax",
      `compressed DICOM is not supported yet (transfer syntax ${transferSyntaxLabel(transferSyntax)})`,
    );
  }
  return finish(ds, raw, cols, rows, { transferSyntax, frames, slope, intercept, center, width, notes });
}

function finish(
  ds: DataSet,
  raw: RawSamples,
  cols: number,
  rows: number,
  o: {
    transferSyntax: string;
    frames: number;
    slope: number;
    intercept: number;
    center: number | null;
    width: number | null;
    notes: string[];
  },
): DicomFrame {
  const pixels = cols * rows;
  if (raw.samples.length < pixels * raw.components)
    throw new ImageRefusal("truncated", "DICOM pixel data holds fewer samples than the image size needs");
  let values: Float32Array;
  let photometric = raw.photometric;
  if (raw.components === 3) {
    if (photometric === "YBR_FULL") {
      // Y is the luminance already.
      values = new Float32Array(pixels);
      for (let i = 0; i < pixels; i++) values[i] = raw.samples[raw.planar ? i : 3 * i] ?? 0;
    } else {
      values = rgbToLuma(raw.samples, pixels, raw.planar);
    }
    o.notes.push(`colour (${photometric}) converted to grey luminance`);
    photometric = "MONOCHROME2";
  } else if (raw.samples instanceof Float32Array && raw.samples.length === pixels) {
    values = raw.samples;
  } else {
    values = Float32Array.from({ length: pixels }, (_, i) => raw.samples[i] ?? 0);
  }
  const rescaled = o.slope !== 1 || o.intercept !== 0;
  if (rescaled) for (let i = 0; i < pixels; i++) values[i] = values[i]! * o.slope + o.intercept;
  const tags: Record<string, string | number> = {
    transferSyntax: o.transferSyntax,
    rows,
    columns: cols,
    bitsStored: raw.bitsStored,
    photometricInterpretation: text(ds, "x00280004") ?? raw.photometric,
  };
  const put = (key: string, value: string | number | null) => {
    if (value !== null) tags[key] = value;
  };
  put("bitsAllocated", uint16(ds, "x00280100"));
  put("pixelRepresentation", uint16(ds, "x00280103"));
  put("samplesPerPixel", uint16(ds, "x00280002"));
  put("modality", text(ds, "x00080060"));
  put("manufacturer", text(ds, "x00080070"));
  put("bodyPartExamined", text(ds, "x00180015"));
  put("viewPosition", text(ds, "x00185101"));
  put("patientSpeciesDescription", text(ds, "x00102201"));
  put("patientBreedDescription", text(ds, "x00102292"));
  put("acquisitionDeviceProcessingDescription", text(ds, "x00181400"));
  put("windowCenter", o.center);
  put("windowWidth", o.width);
  if (rescaled) {
    tags.rescaleSlope = o.slope;
    tags.rescaleIntercept = o.intercept;
  }
  if (o.frames > 1) tags.numberOfFrames = o.frames;
  const description = text(ds, "x00181400") ?? text(ds, "x0008103e");
  const species =
    speciesFromText(text(ds, "x00102201")) ??
    speciesFromText(text(ds, "x00102292")) ??
    speciesFromText(description);
  const bodyPart = text(ds, "x00180015")?.toLowerCase() ?? null;
  return {
    width: cols,
    height: rows,
    bitsStored: raw.bitsStored,
    values,
    photometric,
    window:
      o.center !== null && o.width !== null && o.width > 0 ? { center: o.center, width: o.width } : null,
    plain8Bit: raw.bitsStored <= 8 && !raw.signed && !rescaled,
    transferSyntax: o.transferSyntax,
    frames: o.frames,
    tags,
    species,
    bodyPart,
    view: viewFrom(text(ds, "x00185101"), description),
    notes: o.notes,
  };
}
