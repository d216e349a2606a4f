import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  applyMigrations,
  closeDb,
  createDb,
  type Db,
  dbEnv,
  type EmbeddedServer,
  freePort,
  startEmbeddedPostgres,
} from "@xray/db";
import { createLocalStorage, type Storage } from "@xray/storage";
import pg from "pg";

/** What every entry point (web server, trainer worker, CLI) needs: the database and the file store. */
export interface Platform {
  db: Db;
  storage: Storage;
  databaseUrl: string;
  dataDir: string;
  /** Set when this process started the embedded PostgreSQL and stops it on close. */
  embedded: EmbeddedServer | null;
  close(): Promise<void>;
}

export interface OpenPlatformOptions {
  log?: (line: string) => void;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  poolSize?: number;
  applicationName?: string;
}

interface ServerFile {
  url: string;
  pid: number;
}

function dataDirOf(): string {
  return path.resolve(dbEnv().XRAY_DATA_DIR ?? ".data");
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Connects to DATABASE_URL when set. Otherwise uses the embedded PostgreSQL under .data/pg: the one
 * another process of this install already runs (recorded in .data/pg-server.json), or a new one that
 * this process owns and stops on close.
 */
export async function openPlatform(opts: OpenPlatformOptions = {}): Promise<Platform> {
  const log = opts.log ?? (() => {});
  const env = dbEnv();
  const dataDir = dataDirOf();
  const storage = createLocalStorage(path.join(dataDir, "storage"));
  let url = env.DATABASE_URL;
  let embedded: EmbeddedServer | null = null;
  const serverFile = path.join(dataDir, "pg-server.json");
  if (!url && existsSync(serverFile)) {
    const running = JSON.parse(readFileSync(serverFile, "utf8")) as ServerFile;
    if (await reachable(running.url)) {
      url = running.url;
      log(`using the embedded PostgreSQL started by process ${running.pid}`);
    }
  }
  if (!url) {
    log(`starting the embedded PostgreSQL (data in ${path.join(dataDir, "pg")})`);
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, "pg"),
      port: env.XRAY_PG_PORT ?? (await freePort()),
      log: (line) => {
        if (/error|fatal|panic/i.test(line)) log(`[postgres] ${line}`);
      },
    });
    url = embedded.url;
    writeFileSync(serverFile, JSON.stringify({ url, pid: process.pid } satisfies ServerFile));
  }
  const db = createDb({ url, max: opts.poolSize ?? 10, applicationName: opts.applicationName ?? "xray" });
  if (opts.migrate ?? true) await applyMigrations(db);
  const owned = embedded;
  return {
    db,
    storage,
    databaseUrl: url,
    dataDir,
    embedded: owned,
    async close() {
      await closeDb(db);
      if (owned) {
        await owned.stop();
        rmSync(serverFile, { force: true });
      }
    },
  };
}
