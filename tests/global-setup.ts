import { existsSync } from "node:fs";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startTestServer } from "../packages/db/src/testing";

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

/** One real PostgreSQL for the whole run; each test file gets its own database from a migrated template. */
export default async function setup(project: TestProject) {
  // Several tests decode the real X-rays of the shared data folder beside the checkout.
  const shared = path.resolve(import.meta.dirname, "../../shared/data");
  if (!existsSync(path.join(shared, "knee-oa-mini-224"))) {
    throw new Error(
      `${shared} is missing: the tests read the shared X-ray data beside the checkout (../shared/data, see its README)`,
    );
  }
  const server = await startTestServer();
  project.provide("pgAdminUrl", server.adminUrl);
  return async () => {
    await server.stop();
  };
}
