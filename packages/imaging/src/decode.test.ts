import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import dicomParser from "dicom-parser";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { decodeXray } from "./decode";
import { ImageRefusal } from "./refusal";
import { png16, pngDeclaring, syntheticDicom } from "./testing";

const DATA = path.resolve(import.meta.dirname, "../../../../shared/data");
const KNEE_PNG = path.join(DATA, "knee-oa-mini-224/images/0/9006140L.png");
const THORAX = path.join(DATA, "dicom-samples/highdicom/data/test_files/dx_image.dcm");

async function greyOf(png: Uint8Array) {
  expect((await sharp(png).metadata()).channels).toBe(1);
  const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { pixels: new Uint8Array(data), width: info.width, height: info.height };
}

async function refusal(bytes: Uint8Array, name: string): Promise<ImageRefusal> {
  const err = await decodeXray(bytes, name).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageRefusal);
  return err as ImageRefusal;
}

const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

describe("decodeXray: PNG and JPEG", () => {
  it("keeps an 8-bit grey PNG's pixels and makes a thumbnail", async () => {
    const bytes = readFileSync(KNEE_PNG);
    const d = await decodeXray(bytes, "knee.png");
    expect([d.sourceFormat, d.width, d.height, d.bitDepth]).toEqual(["png", 224, 224, 8]);
    const source = await sharp(bytes).extractChannel(0).raw().toBuffer();
    expect(Buffer.from((await greyOf(d.normalizedPng)).pixels).equals(source)).toBe(true);
    const thumb = await sharp(d.thumbnail).metadata();
    expect(thumb.format).toBe("webp");
    expect(Math.max(thumb.width ?? 0, thumb.height ?? 0)).toBeLessThanOrEqual(256);
  });

  it("windows a 16-bit PNG by percentiles into the full 8-bit range", async () => {
    const w = 200;
    const h = 100;
    const raw = new Uint16Array(w * h);
    for (let i = 0; i < raw.length; i++) raw[i] = 20_000 + (i % w) * 50; // 20,000..29,950
    const png = png16(w, h, raw);
    expect((await sharp(png).metadata()).depth).toBe("ushort");
    const d = await decodeXray(png, "wide.png");
    expect(d.bitDepth).toBe(16);
    expect(d.normalization).toMatch(/percentiles 0\.5-99\.5/);
    const { pixels } = await greyOf(d.normalizedPng);
    expect(pixels[0]).toBe(0);
    expect(pixels[w - 1]).toBe(255);
    // Monotone left to right: the gradient survives.
    expect(pixels[50]!).toBeLessThan(pixels[150]!);
  });

  it("decodes a colour JPEG to grey", async () => {
    const jpeg = await sharp({
      create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 200, b: 200 } },
    })
      .jpeg()
      .toBuffer();
    const d = await decodeXray(jpeg, "photo.jpg");
    expect([d.sourceFormat, d.width, d.height]).toEqual(["jpeg", 64, 48]);
    expect(Math.abs(mean((await greyOf(d.normalizedPng)).pixels) - 200)).toBeLessThan(3);
  });
});

describe("decodeXray: DICOM", () => {
  it("inverts the MONOCHROME1 canine thorax so bones are white", async () => {
    const bytes = new Uint8Array(readFileSync(THORAX));
    const d = await decodeXray(bytes, "dx_image.dcm");
    expect([d.sourceFormat, d.width, d.height, d.bitDepth]).toEqual(["dicom", 211, 169, 8]);
    expect(d.normalization).toContain("inverted (MONOCHROME1)");
    expect(d.dicomTags).toMatchObject({
      modality: "DX",
      photometricInterpretation: "MONOCHROME1",
      manufacturer: "FUJIFILM Corporation",
      bodyPartExamined: "THORAX",
      windowCenter: 128,
      windowWidth: 256,
    });
    expect([d.species, d.bodyPart, d.view]).toEqual(["dog", "thorax", "lateral"]);
    const ds = dicomParser.parseDicom(bytes);
    const el = ds.elements.x7fe00010!;
    const stored = ds.byteArray.subarray(el.dataOffset, el.dataOffset + 211 * 169);
    const { pixels } = await greyOf(d.normalizedPng);
    // Window 128/256 on 8-bit data is the identity, so the output is the stored value turned over.
    let diff = 0;
    for (let i = 0; i < pixels.length; i++) diff += Math.abs(pixels[i]! - (255 - stored[i]!));
    expect(diff / pixels.length).toBeLessThan(1);
    // Air around the dog (image border) is dark, the body in the middle brighter.
    const border: number[] = [];
    const centre: number[] = [];
    for (let y = 0; y < 169; y++)
      for (let x = 0; x < 211; x++) {
        const v = pixels[y * 211 + x]!;
        if (y < 8 || y >= 161) border.push(v);
        else if (x > 60 && x < 150 && y > 50 && y < 120) centre.push(v);
      }
    expect(mean(centre)).toBeGreaterThan(mean(border) + 20);
  });

  it("applies rescale and the first of several windows to signed 16-bit (big endian too)", async () => {
    const pixels = Array.from({ length: 4 * 4 }, (_, i) => (i * 100 - 800) & 0xffff); // -800..700 as two's complement
    for (const bigEndian of [false, true]) {
      const bytes = syntheticDicom({
        rows: 4,
        cols: 4,
        signed: true,
        pixels,
        bigEndian,
        rescaleSlope: "2",
        rescaleIntercept: "-1000",
        windowCenter: "-1000\\40",
        windowWidth: "2000\\400",
      });
      const d = await decodeXray(bytes, "ct.dcm");
      expect(d.normalization).toMatch(/^DICOM window -1000\/2000/);
      const { pixels: out } = await greyOf(d.normalizedPng);
      // value = 2 * stored - 1000: stored -800 -> -2600 (below -2000: black); stored 700 -> 400 (above 0: white).
      expect(out[0]).toBe(0);
      expect(out[15]).toBe(255);
      // stored 0 -> -1000, the window centre: mid grey.
      expect(Math.abs(out[8]! - 128)).toBeLessThanOrEqual(1);
    }
  });

  it("windows 12-bit MONOCHROME2 without a window by percentiles", async () => {
    const pixels = Array.from({ length: 32 * 32 }, (_, i) => (i * 4) % 4096);
    const d = await decodeXray(syntheticDicom({ rows: 32, cols: 32, bitsStored: 12, pixels }), "dr.dcm");
    expect(d.bitDepth).toBe(12);
    expect(d.normalization).toMatch(/percentiles/);
    const { pixels: out } = await greyOf(d.normalizedPng);
    expect(Math.min(...out)).toBe(0);
    expect(Math.max(...out)).toBe(255);
  });

  it("turns RGB DICOM into grey luminance", async () => {
    const rgb = Array.from({ length: 2 * 2 * 3 }, (_, i) => [255, 0, 0][i % 3]!);
    const d = await decodeXray(
      syntheticDicom({
        rows: 2,
        cols: 2,
        bitsAllocated: 8,
        samplesPerPixel: 3,
        photometric: "RGB",
        pixels: rgb,
      }),
      "rgb.dcm",
    );
    const { pixels } = await greyOf(d.normalizedPng);
    expect(pixels[0]).toBe(Math.round(0.299 * 255));
  });

  it("decodes JPEG baseline DICOM through sharp", async () => {
    const jpeg = await sharp({
      create: { width: 40, height: 30, channels: 3, background: { r: 90, g: 90, b: 90 } },
    })
      .jpeg({ quality: 95 })
      .toBuffer();
    const bytes = syntheticDicom({
      rows: 30,
      cols: 40,
      bitsAllocated: 8,
      photometric: "MONOCHROME1",
      transferSyntax: "1.2.840.10008.1.2.4.50",
      fragments: [new Uint8Array(jpeg)],
    });
    const d = await decodeXray(bytes, "jpeg.dcm");
    expect([d.width, d.height]).toEqual([40, 30]);
    expect(d.normalization).toMatch(/JPEG baseline decoded.*inverted \(MONOCHROME1\)/);
    expect(Math.abs(mean((await greyOf(d.normalizedPng)).pixels) - (255 - 90))).toBeLessThan(3);
  });

  it("decodes or clearly refuses every DICOM of the shared samples", async () => {
    const dir = path.join(DATA, "dicom-samples");
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d)) {
        const p = path.join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith(".dcm")) files.push(p);
      }
    };
    walk(dir);
    expect(files.length).toBe(11);
    for (const f of files) {
      const d = await decodeXray(readFileSync(f), path.basename(f));
      expect(d.sourceFormat).toBe("dicom");
      if (f.includes("radoss")) {
        // JPEG 2000, RGB: decoded by the OpenJPEG wasm build, then made grey.
        expect(d.normalization).toMatch(/JPEG 2000 decoded.*converted to grey/);
        expect([d.width, d.height]).toEqual([331, 331]);
        const { pixels } = await greyOf(d.normalizedPng);
        const m = mean(pixels);
        expect(m).toBeGreaterThan(20);
        expect(m).toBeLessThan(235);
      }
    }
  });
});

describe("decodeXray: refusals", () => {
  it("refuses empty, oversized, text-as-DICOM, truncated, bomb and unsupported files with reasons", async () => {
    expect((await refusal(new Uint8Array(0), "a.png")).reason).toBe("empty file (0 bytes)");
    const big = await decodeXray(new Uint8Array(2048), "x.png", { maxBytes: 1024 }).catch(
      (e: ImageRefusal) => e,
    );
    expect(big).toBeInstanceOf(ImageRefusal);
    expect((big as ImageRefusal).code).toBe("too_large");

    const text = new TextEncoder().encode("patient,grade\nrex,2\n".repeat(20));
    const t = await refusal(text, "notes.dcm");
    expect(t.code).toBe("not_dicom");
    expect(t.reason).toMatch(/not a DICOM file.*text/);

    const png = readFileSync(KNEE_PNG);
    const cut = await refusal(png.subarray(0, Math.floor(png.length / 2)), "cut.png");
    expect(["truncated", "corrupt"]).toContain(cut.code);
    expect(cut.reason).toMatch(/PNG/);

    const bomb = await refusal(pngDeclaring(100_000, 100_000), "bomb.png");
    expect(bomb.code).toBe("too_many_pixels");
    expect(bomb.reason).toMatch(/100000 x 100000/);

    const dicomBomb = await refusal(
      syntheticDicom({ rows: 60_000, cols: 60_000, pixelBytes: new Uint8Array(16) }),
      "big.dcm",
    );
    expect(dicomBomb.code).toBe("too_many_pixels");

    const full = syntheticDicom({ rows: 64, cols: 64, pixels: new Array(4096).fill(100) });
    const short = await refusal(full.subarray(0, full.length - 3000), "short.dcm");
    expect(short.code).toBe("truncated");

    const rle = await refusal(
      syntheticDicom({
        rows: 2,
        cols: 2,
        transferSyntax: "1.2.840.10008.1.2.5",
        pixelBytes: new Uint8Array(8),
      }),
      "rle.dcm",
    );
    expect(rle.code).toBe("unsupported_transfer_syntax");
    expect(rle.reason).toContain("RLE Lossless, 1.2.840.10008.1.2.5");

    const palette = await refusal(
      syntheticDicom({
        rows: 2,
        cols: 2,
        bitsAllocated: 8,
        photometric: "PALETTE COLOR",
        pixels: [1, 2, 3, 4],
      }),
      "pal.dcm",
    );
    expect(palette.code).toBe("unsupported_photometric");

    expect((await refusal(new TextEncoder().encode("hello"), "readme.txt")).code).toBe("unknown_format");
  });
});
