import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { closeDb, createDb, type Db } from "./client";
import { startEmbeddedPostgres } from "./embedded";
import { applyMigrations } from "./migrate";

/**
 * Test databases: one real PostgreSQL per test run (embedded, or XRAY_TEST_DATABASE_URL's server),
 * a template database migrated once, and a fresh copy of it per test file (CREATE DATABASE ... TEMPLATE
 * takes ~100 ms), so tests are isolated and run the real migrations on the real engine.
 */
export const TEMPLATE_DB = "xray_test_template";

export interface TestServer {
  /** URL of the server's maintenance database; swap the database name for others. */
  adminUrl: string;
  stop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function startTestServer(): Promise<TestServer> {
  const external = process.env.XRAY_TEST_DATABASE_URL;
  let adminUrl: string;
  let stopServer: () => Promise<void>;
  if (external) {
    adminUrl = withDatabase(external, "postgres");
    stopServer = async () => {};
  } else {
    const dir = mkdtempSync(path.join(os.tmpdir(), "xray-test-pg-"));
    // As root the server runs as a dedicated system user, which must be able to enter the folder.
    chmodSync(dir, 0o755);
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), database: "postgres" });
    adminUrl = server.url;
    stopServer = async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${TEMPLATE_DB} with (force)`);
    await admin.query(`create database ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const db = createDb({ url: withDatabase(adminUrl, TEMPLATE_DB), max: 1 });
  try {
    await applyMigrations(db);
  } finally {
    await closeDb(db);
  }
  return { adminUrl, stop: stopServer };
}

export interface TestDatabase {
  db: Db;
  url: string;
  name: string;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** A freshly migrated, empty database copied from the template. */
export async function createTestDatabase(
  adminUrl: string,
  opts: { max?: number } = {},
): Promise<TestDatabase> {
  const name = `xray_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const db = createDb({ url, max: opts.max ?? 5, applicationName: "xray-test" });
  return {
    db,
    url,
    name,
    drop: async () => {
      await closeDb(db);
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      try {
        await a.query(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
