import { afterAll, inject } from "vitest";
import { createTestDatabase, type TestDatabase } from "../packages/db/src/testing";

/** A fresh migrated database for the calling test file, dropped after its tests. */
export async function useTestDatabase(opts: { max?: number } = {}): Promise<TestDatabase> {
  const tdb = await createTestDatabase(inject("pgAdminUrl"), opts);
  afterAll(async () => {
    await tdb.drop();
  });
  return tdb;
}
