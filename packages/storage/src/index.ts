import { createHash, randomBytes } from "node:crypto";
import { createReadStream, type ReadStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

/**
 * Content-addressed file store for originals, normalized images, thumbnails, heatmaps and model
 * artifacts. Local disk by default (under .data/storage); the interface leaves room for an
 * S3-compatible implementation. Keys are "<aa>/<sha256>.<ext>" for content-addressed blobs, or
 * caller-chosen relative paths (for example model artifacts) validated to stay inside the root.
 */
export interface Storage {
  readonly root: string;
  /** Stores bytes under their sha256; storing the same bytes twice is a no-op. */
  putBlob(data: Uint8Array, ext: string): Promise<{ key: string; sha256: string; size: number }>;
  /** Writes a file at a caller-chosen key atomically (temp file + rename). */
  putAt(key: string, data: Uint8Array | string): Promise<void>;
  read(key: string): Promise<Buffer>;
  stream(key: string): ReadStream;
  exists(key: string): Promise<boolean>;
  size(key: string): Promise<number>;
  remove(key: string): Promise<void>;
  /** Absolute path of a key on local disk (for tools that need a file path). */
  pathOf(key: string): string;
}

/**
 * Error classes checked with `instanceof` by brand, not by prototype: Next bundles this package into
 * each route separately, and the web server's one shared Storage (created by whichever route came
 * first) throws the first bundle's classes. A brand registered with Symbol.for is the same everywhere.
 */
function branded(name: string) {
  const brand = Symbol.for(`xray.storage.${name}`);
  return {
    brand,
    is: (value: unknown): boolean => typeof value === "object" && value !== null && brand in value,
  };
}
const KEY_ERROR = branded("StorageKeyError");
const MISSING_ERROR = branded("StorageMissingError");
const FULL_ERROR = branded("StorageFullError");

export class StorageKeyError extends Error {
  readonly [KEY_ERROR.brand] = true;
  static override [Symbol.hasInstance](value: unknown): boolean {
    return KEY_ERROR.is(value);
  }
  constructor(message: string) {
    super(message);
    this.name = "StorageKeyError";
  }
}

export class StorageMissingError extends Error {
  readonly [MISSING_ERROR.brand] = true;
  static override [Symbol.hasInstance](value: unknown): boolean {
    return MISSING_ERROR.is(value);
  }
  constructor(readonly key: string) {
    super(`stored file not found: ${key}`);
    this.name = "StorageMissingError";
  }
}

/**
 * A write failed because the disk (or the user's quota) is full. Nothing was left behind: the temp
 * file is removed, and the key's file is either absent or the complete file from before.
 */
export class StorageFullError extends Error {
  readonly [FULL_ERROR.brand] = true;
  static override [Symbol.hasInstance](value: unknown): boolean {
    return FULL_ERROR.is(value);
  }
  constructor(
    readonly key: string,
    readonly root: string,
    readonly code: "ENOSPC" | "EDQUOT",
  ) {
    super(
      `storage is full (${code === "EDQUOT" ? "disk quota exceeded" : "no space left on device"}) ` +
        `writing ${key} under ${root}: free space there (or point XRAY_DATA_DIR at a larger disk) and try again`,
    );
    this.name = "StorageFullError";
  }
}

/** True for the errors a full disk or quota gives (ENOSPC, EDQUOT), as StorageFullError or raw. */
export function isStorageFull(err: unknown): boolean {
  if (err instanceof StorageFullError) return true;
  const code = err && typeof err === "object" && "code" in err ? err.code : undefined;
  return code === "ENOSPC" || code === "EDQUOT";
}

const keySchema = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[A-Za-z0-9._\-/]+$/, "storage keys use letters, digits, '.', '_', '-' and '/'")
  .refine((k) => !k.startsWith("/") && !k.split("/").some((p) => p === ".." || p === "." || p === ""), {
    message: "storage keys are relative paths without '.', '..' or empty segments",
  });

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function blobKey(sha256: string, ext: string): string {
  const clean = ext.replace(/^\./, "").toLowerCase();
  if (!/^[a-z0-9]{1,8}$/.test(clean)) throw new StorageKeyError(`bad extension: ${ext}`);
  return `${sha256.slice(0, 2)}/${sha256}.${clean}`;
}

async function writeAtomic(
  file: string,
  data: Uint8Array | string,
  where: { key: string; root: string },
): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    if (isStorageFull(err)) {
      const code =
        err && typeof err === "object" && "code" in err && err.code === "EDQUOT" ? "EDQUOT" : "ENOSPC";
      throw new StorageFullError(where.key, where.root, code);
    }
    throw err;
  }
}

export function createLocalStorage(root: string): Storage {
  const absRoot = path.resolve(root);
  const pathOf = (key: string): string => {
    const parsed = keySchema.safeParse(key);
    if (!parsed.success) throw new StorageKeyError(`invalid storage key ${JSON.stringify(key)}`);
    const full = path.resolve(absRoot, parsed.data);
    if (!full.startsWith(absRoot + path.sep))
      throw new StorageKeyError(`storage key escapes the root: ${key}`);
    return full;
  };
  const missing = (key: string, err: unknown): never => {
    if (err && typeof err === "object" && "code" in err && err.code === "ENOENT")
      throw new StorageMissingError(key);
    throw err;
  };
  return {
    root: absRoot,
    pathOf,
    async putBlob(data, ext) {
      const sha256 = sha256Hex(data);
      const key = blobKey(sha256, ext);
      const file = pathOf(key);
      const existing = await stat(file).catch(() => null);
      if (!existing || existing.size !== data.byteLength)
        await writeAtomic(file, data, { key, root: absRoot });
      return { key, sha256, size: data.byteLength };
    },
    async putAt(key, data) {
      await writeAtomic(pathOf(key), data, { key, root: absRoot });
    },
    async read(key) {
      return await readFile(pathOf(key)).catch((e: unknown) => missing(key, e));
    },
    stream(key) {
      return createReadStream(pathOf(key));
    },
    async exists(key) {
      return (await stat(pathOf(key)).catch(() => null)) !== null;
    },
    async size(key) {
      const s = await stat(pathOf(key)).catch((e: unknown) => missing(key, e));
      return s.size;
    },
    async remove(key) {
      await rm(pathOf(key), { force: true, recursive: true });
    },
  };
}

const envSchema = z.object({ XRAY_DATA_DIR: z.string().min(1).default(".data") });

/** The storage the product uses: <XRAY_DATA_DIR or .data>/storage. */
export function defaultStorage(env: NodeJS.ProcessEnv = process.env): Storage {
  const { XRAY_DATA_DIR } = envSchema.parse({ XRAY_DATA_DIR: env.XRAY_DATA_DIR || undefined });
  return createLocalStorage(path.join(XRAY_DATA_DIR, "storage"));
}
