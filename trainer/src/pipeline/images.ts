import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Storage } from "@xray/storage";
import sharp from "sharp";

/**
 * Grey 8-bit pixels of stored images at the model's input size, aspect kept (letterboxed on black so
 * no anatomy is cut), cached on disk per (content, size) so rounds after the first skip decoding.
 */
export async function loadPixels(
  storage: Storage,
  normalizedKey: string,
  size: number,
  cacheDir: string,
): Promise<Uint8Array> {
  const name = path.basename(normalizedKey).replace(/\.[a-z0-9]+$/i, "");
  const cacheFile = path.join(cacheDir, `px${size}`, name.slice(0, 2), `${name}.u8`);
  const cached = await readFile(cacheFile).catch(() => null);
  if (cached && cached.length === size * size)
    return new Uint8Array(cached.buffer, cached.byteOffset, cached.length);
  const png = await storage.read(normalizedKey);
  const { data, info } = await sharp(png)
    .greyscale()
    .resize(size, size, { fit: "contain", background: { r: 0, g: 0, b: 0 }, kernel: "lanczos3" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pixels = info.channels === 1 ? new Uint8Array(data) : firstChannel(data, info.channels);
  await mkdir(path.dirname(cacheFile), { recursive: true });
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  await writeFile(tmp, pixels);
  await rename(tmp, cacheFile);
  return pixels;
}

function firstChannel(data: Buffer, channels: number): Uint8Array {
  const out = new Uint8Array(data.length / channels);
  for (let i = 0; i < out.length; i++) out[i] = data[i * channels] ?? 0;
  return out;
}

/** Loads many images into one [n, size, size] buffer with a small decode pool. */
export async function loadPixelBatch(
  storage: Storage,
  keys: string[],
  size: number,
  cacheDir: string,
  concurrency = 4,
): Promise<Uint8Array> {
  const out = new Uint8Array(keys.length * size * size);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= keys.length) return;
      const key = keys[i];
      if (key === undefined) return;
      out.set(await loadPixels(storage, key, size, cacheDir), i * size * size);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
  return out;
}
