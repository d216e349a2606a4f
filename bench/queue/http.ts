/**
 * Queue latency through the real HTTP routes (docs/benchmarks.md, "Queue latency", HTTP level).
 *
 *   pnpm --filter @xray/web build        # once: the production build the server runs
 *   pnpm --filter @xray/bench-queue bench --http --images 1000000 --annotators 50 --seconds 30
 *
 * Without --url it starts everything itself in a temporary folder: an embedded PostgreSQL, the
 * migrations, N queue images seeded by one INSERT ... SELECT generate_series (random priorities,
 * as the service-level run), one dataset, C annotator accounts with real passwords, then the
 * production server (scripts/start.ts: the portal's production build, no trainer worker, no demo
 * data) on a free loopback port. With --url http://host:port it uses that server and seeds into the
 * DATABASE_URL it shares with it.
 *
 * Each annotator signs in over HTTP (next-auth credentials flow, its own session cookie), then loops
 * for the warm-up plus --seconds: POST /api/trpc/queue.next -> POST /api/trpc/reads.submit (then
 * --think-ms of pause). Reports p50 / p95 / p99 per route after the warm-up, requests/s, reads/s,
 * errors by kind, and checks in the database that every acknowledged read is stored exactly once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { seedDataset, seedImages } from "@xray/core/queue.fixtures";
import { createUser } from "@xray/core/users";
import { applyMigrations, closeDb, createDb, reads } from "@xray/db";
import { freePort, startEmbeddedPostgres } from "@xray/db/embedded";
import { eq, sql } from "drizzle-orm";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface HttpBenchOptions {
  images: number;
  annotators: number;
  seconds: number;
  warmup: number;
  thinkMs: number;
  /** An already running server (its DATABASE_URL must be in the environment). */
  url?: string;
  /** Port for the server this script starts (default: a free one). */
  port?: number;
}

type Route = "queue.next" | "reads.submit";

class TrpcFailure extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

class Client {
  private cookies = new Map<string, string>();
  constructor(private readonly base: string) {}
  private store(res: Response) {
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const i = pair.indexOf("=");
      if (i > 0) this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
  }
  private get cookie() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(`${this.base}${url}`, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string>), cookie: this.cookie, origin: this.base },
    });
    this.store(res);
    return res;
  }
  async login(email: string, password: string): Promise<void> {
    const csrf = (await (await this.fetch("/api/auth/csrf")).json()) as { csrfToken: string };
    const res = await this.fetch("/api/auth/callback/credentials", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email, password, csrfToken: csrf.csrfToken, callbackUrl: `${this.base}/` }),
    });
    await res.arrayBuffer();
    if (![...this.cookies.keys()].some((k) => k.includes("session-token")))
      throw new Error(`sign-in failed for ${email}: HTTP ${res.status}`);
  }
  async trpc<T>(pathName: Route, input: unknown): Promise<T> {
    const res = await this.fetch(`/api/trpc/${pathName}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ json: input }),
    });
    const text = await res.text();
    let body: { result?: { data?: { json?: T } }; error?: { json?: { data?: { code?: string } } } } = {};
    try {
      body = JSON.parse(text);
    } catch {
      throw new TrpcFailure(`HTTP ${res.status} (not JSON)`);
    }
    if (!res.ok) throw new TrpcFailure(body.error?.json?.data?.code ?? `HTTP ${res.status}`);
    return body.result?.data?.json as T;
  }
}

function pct(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function waitForHttp(url: string, server: ChildProcess | null, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (server && server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}`);
    try {
      if ((await fetch(url, { redirect: "manual" })).status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no answer on ${url} within ${ms / 1000} s`);
}

const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");

export async function runHttpBench(opts: HttpBenchOptions): Promise<boolean> {
  let dir: string | null = null;
  let stopDb: (() => Promise<void>) | null = null;
  let server: ChildProcess | null = null;
  let dbUrl = process.env.DATABASE_URL;
  let base = opts.url?.replace(/\/$/, "");
  const password = `Bench-${randomBytes(6).toString("hex")}`;
  const stopServer = async () => {
    if (server && server.exitCode === null) {
      const s = server;
      s.kill("SIGTERM");
      await new Promise((r) => s.once("exit", r));
    }
  };
  if (!base) {
    if (!existsSync(path.join(root, "apps/web/.next/BUILD_ID")))
      throw new Error("no production build of the portal: run `pnpm --filter @xray/web build` first");
    dir = mkdtempSync(path.join(os.tmpdir(), "xray-bench-http-"));
    chmodSync(dir, 0o755);
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), database: "bench" });
    dbUrl = pg.url;
    stopDb = () => pg.stop();
  } else if (!dbUrl) throw new Error("--url needs DATABASE_URL: the server's database, to seed into");
  if (!dbUrl) throw new Error("no database");
  const db = createDb({ url: dbUrl, max: 4, applicationName: "bench-queue-http" });
  let ok = false;
  try {
    await applyMigrations(db);
    const t0 = performance.now();
    const datasetId = await seedDataset(db, { name: `bench-http-${Date.now()}` });
    await seedImages(db, { datasetId, count: opts.images, randomPriority: true });
    await db.execute(sql`vacuum analyze images`);
    const seedSeconds = (performance.now() - t0) / 1000;
    const emails: string[] = [];
    const tag = randomBytes(3).toString("hex");
    for (let i = 0; i < opts.annotators; i++) {
      const email = `bench-${tag}-${i}@xray.local`;
      await createUser(db, { email, role: "annotator", password, actor: null, skipPolicy: true });
      emails.push(email);
    }

    if (!base) {
      const port = opts.port ?? (await freePort());
      base = `http://127.0.0.1:${port}`;
      server = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
        cwd: root,
        env: {
          ...process.env,
          DATABASE_URL: dbUrl,
          XRAY_DATA_DIR: dir ?? undefined,
          AUTH_SECRET: randomBytes(32).toString("base64url"),
          PORT: String(port),
          HOSTNAME: "127.0.0.1",
          XRAY_WORKERS: "0",
          XRAY_SKIP_DEMO: "1",
        },
        stdio: ["ignore", "ignore", "inherit"],
      });
      await waitForHttp(`${base}/login`, server, 180_000);
    } else await waitForHttp(`${base}/login`, null, 10_000);
    console.log(
      `seeded ${opts.images} images in ${seedSeconds.toFixed(1)} s; server ${base}; ${opts.annotators} annotators, ` +
        `${opts.seconds} s after ${opts.warmup} s warm-up, think ${opts.thinkMs} ms; load average ${loadavg()} on ${os.cpus().length} CPUs`,
    );

    const clients = emails.map(() => new Client(base as string));
    // Sign in a few at a time (the login throttle counts per address; the bench runs on loopback).
    for (let i = 0; i < clients.length; i += 10)
      await Promise.all(clients.slice(i, i + 10).map((c, j) => c.login(emails[i + j] ?? "", password)));

    const lat: Record<Route, number[]> = { "queue.next": [], "reads.submit": [] };
    const errors = new Map<string, number>();
    const acknowledged: string[] = [];
    let requests = 0;
    let empty = 0;
    const start = performance.now();
    const measureFrom = start + opts.warmup * 1000;
    const endAt = measureFrom + opts.seconds * 1000;
    const timed = async <T>(route: Route, f: () => Promise<T>): Promise<T> => {
      const a = performance.now();
      try {
        return await f();
      } finally {
        const b = performance.now();
        if (a >= measureFrom && b <= endAt + 60_000) {
          lat[route].push(b - a);
          requests++;
        }
      }
    };
    await Promise.all(
      clients.map(async (client, user) => {
        let n = 0;
        // Annotators start spread over one think time, not all at once.
        if (opts.thinkMs > 0) await new Promise((r) => setTimeout(r, opts.thinkMs * Math.random()));
        while (performance.now() < endAt) {
          try {
            const item = await timed("queue.next", () =>
              client.trpc<{ image: { id: string } } | null>("queue.next", { datasetId }),
            );
            if (!item) {
              empty++;
              await new Promise((r) => setTimeout(r, 200));
              continue;
            }
            const abnormal = (user + n) % 4 === 0;
            const read = await timed("reads.submit", () =>
              client.trpc<{ id: string }>("reads.submit", {
                imageId: item.image.id,
                gate: abnormal ? "abnormal" : "normal",
                findings: abnormal ? { fracture: "positive" } : {},
                timeSpentMs: 1000,
              }),
            );
            acknowledged.push(read.id);
            n++;
          } catch (err) {
            const key = err instanceof TrpcFailure ? `trpc ${err.code}` : String(err);
            errors.set(key, (errors.get(key) ?? 0) + 1);
          }
          // Think times vary (uniform in [0.5, 1.5] x --think-ms): with one fixed pause the 50
          // annotators would stay in lock-step and hit the server as one burst every cycle.
          if (opts.thinkMs > 0) await new Promise((r) => setTimeout(r, opts.thinkMs * (0.5 + Math.random())));
        }
      }),
    );
    const measured = (Math.min(performance.now(), endAt) - measureFrom) / 1000;

    const rows = await db.select({ id: reads.id }).from(reads).where(eq(reads.datasetId, datasetId));
    const stored = new Set(rows.map((r) => r.id));
    const missing = acknowledged.filter((id) => !stored.has(id)).length;
    const unacknowledged = rows.length - acknowledged.length;

    console.log(
      `\nqueue over HTTP: ${opts.images} images, ${opts.annotators} annotators, load average ${loadavg()}`,
    );
    console.log(
      "| route | requests | req/s | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const route of ["queue.next", "reads.submit"] as const) {
      const s = [...lat[route]].sort((a, b) => a - b);
      console.log(
        `| ${route} | ${s.length} | ${(s.length / measured).toFixed(1)} | ${pct(s, 0.5).toFixed(1)} | ${pct(s, 0.95).toFixed(1)} | ${pct(s, 0.99).toFixed(1)} | ${(s[s.length - 1] ?? Number.NaN).toFixed(1)} |`,
      );
    }
    console.log(
      `requests/s ${(requests / measured).toFixed(1)}, reads/s ${(lat["reads.submit"].length / measured).toFixed(1)} over ${measured.toFixed(1)} s; queue empty answers ${empty}`,
    );
    console.log(`errors: ${errors.size === 0 ? "none" : JSON.stringify(Object.fromEntries(errors))}`);
    console.log(
      `reads acknowledged ${acknowledged.length}, stored ${rows.length}, acknowledged but missing ${missing}, stored without acknowledgement ${unacknowledged}`,
    );
    ok = missing === 0 && errors.size === 0;
    console.log(ok ? "verification: PASS" : "verification: FAIL");
  } finally {
    await stopServer();
    await closeDb(db);
    if (stopDb) await stopDb();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  return ok;
}
