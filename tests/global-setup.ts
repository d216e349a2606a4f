import type { TestProject } from "vitest/node";
import { startTestServer } from "../packages/db/src/testing";

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

/** One real PostgreSQL for the whole run; each test file gets its own database from a migrated template. */
export default async function setup(project: TestProject) {
  const server = await startTestServer();
  project.provide("pgAdminUrl", server.adminUrl);
  return async () => {
    await server.stop();
  };
}
