import sharp, { type Metadata } from "sharp";
import { decodeDicom, hasDicmMarker } from "./dicom";
import { applyRange, applyWindow, invert, percentileRange } from "./normalize";
import { ImageRefusal, thrownMessage } from "./refusal";

export type SourceFormat = "png" | "jpeg" | "dicom";

export interface DecodedXray {
  width: number;
  height: number;
  sourceFormat: SourceFormat;
  /** Bits per sample of the source (8 or 16 for PNG, Bits Stored for DICOM). */
  bitDepth: number;
  /** Full-size 8-bit grey PNG, bones white. */
  normalizedPng: Uint8Array;
  thumbnail: Uint8Array;
  thumbnailFormat: "webp";
  /** How the 8-bit image was made, e.g. "DICOM window 128/256; inverted (MONOCHROME1)". */
  normalization: string;
  /** Selected DICOM tags; empty for PNG and JPEG. */
  dicomTags: Record<string, string | number>;
  species: string | null;
  bodyPart: string | null;
  view: string | null;
}

export interface DecodeLimits {
  /** Largest file accepted, in bytes (default 512 MiB). */
  maxBytes: number;
  /** Largest pixel count accepted (default 100 megapixels); guards against decompression bombs. */
  maxPixels: number;
  /** Largest side accepted (default 16,384 px). */
  maxDimension: number;
  /** Longest side of the thumbnail (default 256 px). */
  thumbnailSize: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBytes: 512 * 1024 * 1024,
  maxPixels: 100_000_000,
  maxDimension: 16_384,
  thumbnailSize: 256,
};

/** Percentile window used for 16-bit images that carry no window of their own. */
export const PERCENTILE_WINDOW = { low: 0.005, high: 0.995 } as const;

function sniff(bytes: Uint8Array): SourceFormat | null {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return "png";
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (hasDicmMarker(bytes)) return "dicom";
  return null;
}

function looksLikeText(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 512);
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127) || b >= 0xc2) printable++;
  }
  return n > 0 && printable / n > 0.95;
}

const DICOM_EXT = /\.(dcm|dicom|dic)$/i;

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

async function encode(
  grey: Uint8Array,
  width: number,
  height: number,
  thumbnailSize: number,
  existingPng: Uint8Array | null = null,
) {
  const image = sharp(grey, { raw: { width, height, channels: 1 } });
  const [normalizedPng, thumbnail] = await Promise.all([
    existingPng ?? image.clone().toColourspace("b-w").png({ compressionLevel: 6 }).toBuffer(),
    image
      .clone()
      .resize(thumbnailSize, thumbnailSize, { fit: "inside", withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer(),
  ]);
  return { normalizedPng: new Uint8Array(normalizedPng), thumbnail: new Uint8Array(thumbnail) };
}

async function decodeRaster(bytes: Uint8Array, format: "png" | "jpeg", limits: DecodeLimits) {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageRefusal(
      "corrupt",
      `${format.toUpperCase()} header could not be read: ${thrownMessage(err)}`,
    );
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width > limits.maxDimension || height > limits.maxDimension || width * height > limits.maxPixels)
    throw new ImageRefusal(
      "too_many_pixels",
      `${format.toUpperCase()} declares ${width} x ${height} pixels, over the limit (${limits.maxDimension} px a side, ${limits.maxPixels} pixels): refused as a possible decompression bomb`,
    );
  const sixteen = meta.depth === "ushort";
  try {
    // failOn "truncated": a PNG or JPEG cut short is refused instead of padded with grey.
    const base = sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: "truncated" }).rotate();
    if (!sixteen) {
      const { data, info } = await base.toColourspace("b-w").raw().toBuffer({ resolveWithObject: true });
      const grey = info.channels === 1 ? data : firstChannel(data, info.channels);
      const colour = (meta.channels ?? 1) >= 3 && meta.space !== "b-w";
      // An 8-bit grey PNG without alpha or rotation already is the normalized image: keep its bytes.
      const alreadyNormal =
        format === "png" &&
        meta.channels === 1 &&
        meta.bitsPerSample === 8 &&
        !meta.hasAlpha &&
        (meta.orientation ?? 1) === 1 &&
        !meta.isPalette;
      return {
        alreadyNormal,
        grey: new Uint8Array(grey.buffer, grey.byteOffset, info.width * info.height),
        width: info.width,
        height: info.height,
        bitDepth: 8,
        normalization: colour
          ? "8-bit colour converted to grey luminance"
          : alreadyNormal
            ? "none (8-bit grey PNG kept as it is)"
            : "8-bit grey",
      };
    }
    const { data, info } = await base.toColourspace("grey16").raw({ depth: "ushort" }).toBuffer({
      resolveWithObject: true,
    });
    const all = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
    const pixels = info.width * info.height;
    const values =
      info.channels === 1 ? all : Uint16Array.from({ length: pixels }, (_, i) => all[i * info.channels]!);
    const { low, high } = percentileRange(values, PERCENTILE_WINDOW.low, PERCENTILE_WINDOW.high);
    const grey = new Uint8Array(pixels);
    applyRange(values, low, high, grey);
    return {
      alreadyNormal: false,
      grey,
      width: info.width,
      height: info.height,
      bitDepth: 16,
      normalization: `16-bit windowed by percentiles 0.5-99.5 (${Math.round(low)}-${Math.round(high)})`,
    };
  } catch (err) {
    const message = thrownMessage(err);
    if (/pixel limit/i.test(message))
      throw new ImageRefusal(
        "too_many_pixels",
        `${format.toUpperCase()} is over the pixel limit: ${message}`,
      );
    if (/truncat|premature|end of (file|stream)|not enough|read error|IDAT|unexpected end/i.test(message))
      throw new ImageRefusal(
        "truncated",
        `${format.toUpperCase()} file is truncated or damaged (${message.trim()})`,
      );
    throw new ImageRefusal("corrupt", `${format.toUpperCase()} could not be decoded: ${message.trim()}`);
  }
}

function firstChannel(data: Buffer, channels: number): Buffer {
  const out = Buffer.alloc(data.length / channels);
  for (let i = 0; i < out.length; i++) out[i] = data[i * channels]!;
  return out;
}

/**
 * Decodes a PNG, JPEG or DICOM X-ray into a full-size normalized 8-bit grey PNG (bones white) and a
 * thumbnail. The format comes from the file's bytes, not its name. Throws ImageRefusal, with a reason
 * meant for the person importing, for anything it will not turn into an image.
 */
export async function decodeXray(
  bytes: Uint8Array,
  name: string,
  limits: Partial<DecodeLimits> = {},
): Promise<DecodedXray> {
  const lim: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, ...limits };
  if (bytes.length === 0) throw new ImageRefusal("empty", "empty file (0 bytes)");
  if (bytes.length > lim.maxBytes)
    throw new ImageRefusal(
      "too_large",
      `file is ${formatSize(bytes.length)}, over the ${formatSize(lim.maxBytes)} limit`,
    );
  const format = sniff(bytes);
  if (format === null) {
    if (DICOM_EXT.test(name))
      throw new ImageRefusal(
        "not_dicom",
        `not a DICOM file: no 'DICM' marker at byte 128${looksLikeText(bytes) ? " (the file is text)" : ""}`,
      );
    if (/\.png$/i.test(name))
      throw new ImageRefusal("corrupt", "not a PNG file: the PNG signature is missing");
    if (/\.jpe?g$/i.test(name))
      throw new ImageRefusal("corrupt", "not a JPEG file: the JPEG marker is missing");
    throw new ImageRefusal(
      "unknown_format",
      `unsupported file type${looksLikeText(bytes) ? " (text)" : ""}: PNG, JPEG and DICOM are accepted`,
    );
  }

  if (format === "dicom") {
    const frame = await decodeDicom(bytes, lim);
    const grey = new Uint8Array(frame.width * frame.height);
    const steps: string[] = [...frame.notes];
    if (frame.window) {
      applyWindow(frame.values, frame.window, grey);
      steps.push(`DICOM window ${frame.window.center}/${frame.window.width}`);
    } else if (frame.plain8Bit) {
      for (let i = 0; i < grey.length; i++)
        grey[i] = Math.max(0, Math.min(255, Math.round(frame.values[i]!)));
      steps.push("8-bit values as stored");
    } else {
      const { low, high } = percentileRange(frame.values, PERCENTILE_WINDOW.low, PERCENTILE_WINDOW.high);
      applyRange(frame.values, low, high, grey);
      steps.push(`windowed by percentiles 0.5-99.5 (${low.toFixed(1)}-${high.toFixed(1)})`);
    }
    if (frame.photometric === "MONOCHROME1") {
      invert(grey);
      steps.push("inverted (MONOCHROME1)");
    }
    const encoded = await encode(grey, frame.width, frame.height, lim.thumbnailSize);
    return {
      width: frame.width,
      height: frame.height,
      sourceFormat: "dicom",
      bitDepth: frame.bitsStored,
      ...encoded,
      thumbnailFormat: "webp",
      normalization: steps.join("; "),
      dicomTags: frame.tags,
      species: frame.species,
      bodyPart: frame.bodyPart,
      view: frame.view,
    };
  }

  const raster = await decodeRaster(bytes, format, lim);
  const encoded = await encode(
    raster.grey,
    raster.width,
    raster.height,
    lim.thumbnailSize,
    raster.alreadyNormal ? bytes : null,
  );
  return {
    width: raster.width,
    height: raster.height,
    sourceFormat: format,
    bitDepth: raster.bitDepth,
    ...encoded,
    thumbnailFormat: "webp",
    normalization: raster.normalization,
    dicomTags: {},
    species: null,
    bodyPart: null,
    view: null,
  };
}
