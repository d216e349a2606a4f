import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Platform } from "@xray/core";
import { createLocalStorage } from "@xray/storage";
import { afterAll } from "vitest";
import { useTestDatabase } from "../../db";

/** A Platform over a fresh test database and a temp storage folder, removed after the file's tests. */
export async function useTestPlatform(opts: { max?: number } = {}): Promise<Platform> {
  const tdb = await useTestDatabase(opts);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "xray-it-"));
  chmodSync(dataDir, 0o755);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  return {
    db: tdb.db,
    storage: createLocalStorage(path.join(dataDir, "storage")),
    databaseUrl: tdb.url,
    dataDir,
    embedded: null,
    close: async () => {},
  };
}
