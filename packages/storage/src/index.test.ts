import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createLocalStorage, StorageKeyError, StorageMissingError } from "./index";

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
