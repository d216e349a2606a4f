import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { writeFileAtomic } from "../io/files.js";
import { parseCsv } from "./csv.js";
import type { ImageSet } from "./image-set.js";

export type CsvRow = Record<string, string>;

export interface FolderDataset {
  root: string;
  header: string[];
  rows: CsvRow[];
  /** Image i belongs to rows[i]; decoded to size x size grey bytes. */
  images: ImageSet;
}

/** Decodes one image file to size x size 8-bit grey (sharp: any format it reads, resized with lanczos). */
export async function decodeGrey(path: string, size: number): Promise<Uint8Array> {
  const buf = await sharp(path).greyscale().resize(size, size, { fit: "fill" }).raw().toBuffer();
  if (buf.length !== size * size)
    throw new Error(`${path}: decoded ${buf.length} bytes, expected ${size * size}`);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/**
 * Loads a folder of images described by a labels CSV (a `path` column relative to the folder).
 * Images are decoded once with sharp and cached as raw bytes in `cacheDir` keyed by the CSV's
 * content, the size and the file count, so later runs load in well under a second.
 */
export async function loadImageFolder(opts: {
  root: string;
  csv?: string;
  size: number;
  cacheDir?: string;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<FolderDataset> {
  const csvPath = opts.csv ?? join(opts.root, "labels.csv");
  const text = await readFile(csvPath, "utf8");
  const { header, rows: raw } = parseCsv(text);
  const pathCol = header.indexOf("path");
  if (pathCol < 0) throw new Error(`${csvPath}: no "path" column`);
  const rows = raw.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ""])));
  const size = opts.size;
  const px = size * size;
  const key = createHash("sha256")
    .update(text)
    .update(`|${size}|${(await stat(csvPath)).size}`)
    .digest("hex")
    .slice(0, 16);
  const cachePath = opts.cacheDir ? join(opts.cacheDir, `images-${size}-${key}.u8`) : undefined;
  if (cachePath && existsSync(cachePath)) {
    const pixels = new Uint8Array(await readFile(cachePath));
    if (pixels.length === rows.length * px) {
      return { root: opts.root, header, rows, images: { count: rows.length, size, pixels } };
    }
  }
  const pixels = new Uint8Array(rows.length * px);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < rows.length) {
      const i = next++;
      const rel = rows[i]?.path ?? "";
      pixels.set(await decodeGrey(join(opts.root, rel), size), i * px);
      done++;
      if (done % 500 === 0) opts.onProgress?.(done, rows.length);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  if (cachePath && opts.cacheDir) {
    await mkdir(opts.cacheDir, { recursive: true });
    await writeFileAtomic(cachePath, pixels);
  }
  return { root: opts.root, header, rows, images: { count: rows.length, size, pixels } };
}
