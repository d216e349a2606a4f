import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as schema from "./schema/index";

export type Schema = typeof schema;
export type Db = NodePgDatabase<Schema> & { $client: pg.Pool };
/** A transaction handle; services accept either a Db or a Tx where they can run inside a caller's transaction. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
export type DbOrTx = Db | Tx;

export interface CreateDbOptions {
  url: string;
  /** Pool size; PostgreSQL's default max_connections is 100, shared by web, workers and tools. */
  max?: number;
  applicationName?: string;
}

/**
 * A pooled drizzle client. The pool reconnects by itself after the server restarts: a broken
 * connection errors the query that used it and is dropped, the next query opens a fresh one.
 */
export function createDb(options: CreateDbOptions): Db {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? "xray",
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on("error", (err) => {
    console.warn(`[db] idle connection error: ${err.message}`);
  });
  return drizzle({ client: pool, schema, casing: "snake_case" });
}

export async function closeDb(db: Db): Promise<void> {
  await db.$client.end();
}
