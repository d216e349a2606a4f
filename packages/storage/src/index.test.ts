import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  createLocalStorage,
  isStorageFull,
  StorageFullError,
  StorageKeyError,
  StorageMissingError,
} from "./index";

describe("local storage", () => {
  const store = createLocalStorage(mkdtempSync(path.join(os.tmpdir(), "xray-store-")));

  it("stores content-addressed blobs once and reads them back", async () => {
    const a = await store.putBlob(new TextEncoder().encode("hello"), "png");
    const b = await store.putBlob(new TextEncoder().encode("hello"), ".PNG");
    expect(a.key).toBe(b.key);
    expect(a.key).toMatch(/^2c\/2cf24dba[0-9a-f]+\.png$/);
    expect((await store.read(a.key)).toString()).toBe("hello");
  });

  it("refuses keys that leave the root and reports missing files", async () => {
    for (const bad of ["../x", "/etc/passwd", "a/../../b", "a//b", "a\\b"]) {
      expect(() => store.pathOf(bad)).toThrow(StorageKeyError);
    }
    await expect(store.read("no/such.png")).rejects.toBeInstanceOf(StorageMissingError);
  });

  it("writes caller-chosen keys atomically", async () => {
    await store.putAt("models/v1/model.json", "{}");
    expect(await store.exists("models/v1/model.json")).toBe(true);
    expect(await store.size("models/v1/model.json")).toBe(2);
  });
});

describe("storage errors across module copies", () => {
  it("instanceof holds for errors thrown by another copy of this module (Next bundles one per route)", async () => {
    // A query string makes Vite load a second, separate instance of the module.
    const other = (await import(
      /* @vite-ignore */ `./index.ts?copy=${Date.now()}`
    )) as typeof import("./index");
    expect(other.StorageMissingError).not.toBe(StorageMissingError);
    const store = other.createLocalStorage(mkdtempSync(path.join(os.tmpdir(), "xray-store-copy-")));
    const err: unknown = await store.read("aa/none.png").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageMissingError);
    expect(err).not.toBeInstanceOf(StorageFullError);
    expect(() => store.pathOf("../x")).toThrow(StorageKeyError);
    expect(new other.StorageFullError("k", "/r", "ENOSPC")).toBeInstanceOf(StorageFullError);
    expect(isStorageFull(new other.StorageFullError("k", "/r", "ENOSPC"))).toBe(true);
    expect(isStorageFull(Object.assign(new Error("x"), { code: "ENOSPC" }))).toBe(true);
    expect(isStorageFull(new Error("x"))).toBe(false);
    expect(new Error("plain")).not.toBeInstanceOf(StorageMissingError);
  });
});
