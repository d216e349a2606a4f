/**
 * Load test against the production server on loopback (docs/benchmarks.md, "Load test").
 *
 *   pnpm build && pnpm exec tsx bench/load/run.ts            # 50 annotators, 300 s
 *   pnpm exec tsx bench/load/run.ts --short                  # 20 annotators, 45 s
 *   options: --annotators N --seconds S --port P --no-round
 *
 * Starts `scripts/start.ts` (production build, embedded PostgreSQL, one trainer worker) on a
 * throwaway data folder bound to 127.0.0.1, creates N annotator accounts, signs each in over HTTP,
 * sets the demo knee dataset to 10 reads per image, starts a training round (which ends with pool
 * scoring) as the researcher, then runs N closed-loop annotators: queue.next -> GET the image ->
 * reads.submit, until the time is up. Reports requests/s, p50/p99 per route and errors; then checks
 * in the database that every acknowledged read is stored exactly once and that no image was held
 * by two annotators at overlapping times (from each client's lease windows).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openPlatform } from "@xray/core";
import { createUser } from "@xray/core/users";
import { datasets, reads, trainingRounds } from "@xray/db";
import { eq, inArray, sql } from "drizzle-orm";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const short = args.includes("--short");
const ANNOTATORS = opt("annotators", short ? 20 : 50);
const SECONDS = opt("seconds", short ? 45 : 300);
const PORT = opt("port", 3190);
const WITH_ROUND = !args.includes("--no-round");
const BASE = `http://127.0.0.1:${PORT}`;
const PASSWORD = "Load-test-pass-2026";

type Route = "queue.next" | "image" | "reads.submit" | "login";
const latencies = new Map<Route, number[]>();
const errors = new Map<string, number>();
const countError = (key: string) => errors.set(key, (errors.get(key) ?? 0) + 1);

class Client {
  private cookies = new Map<string, string>();
  private store(res: Response) {
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const eq = pair.indexOf("=");
      if (eq > 0) this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  private get cookie() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  async timed(route: Route, url: string, init: RequestInit = {}): Promise<Response> {
    const t = performance.now();
    const res = await fetch(`${BASE}${url}`, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string>), cookie: this.cookie },
    });
    this.store(res);
    const list = latencies.get(route) ?? [];
    list.push(performance.now() - t);
    latencies.set(route, list);
    return res;
  }
  async login(email: string, password: string): Promise<void> {
    const csrfRes = await this.timed("login", "/api/auth/csrf");
    const { csrfToken } = (await csrfRes.json()) as { csrfToken: string };
    const res = await this.timed("login", "/api/auth/callback/credentials", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email, password, csrfToken, callbackUrl: `${BASE}/` }),
    });
    await res.arrayBuffer();
    if (![...this.cookies.keys()].some((k) => k.includes("session-token")))
      throw new Error(`sign-in failed for ${email}: ${res.status}`);
  }
  async trpc<T>(route: Route, pathName: string, input: unknown): Promise<T> {
    const res = await this.timed(route, `/api/trpc/${pathName}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ json: input }),
    });
    const body = (await res.json()) as {
      result?: { data?: { json?: T } };
      error?: { json?: { data?: { code?: string } } };
    };
    if (!res.ok) throw new TrpcFailure(body.error?.json?.data?.code ?? `HTTP ${res.status}`);
    return body.result?.data?.json as T;
  }
}

class TrpcFailure extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function waitFor(url: string, server: ChildProcess, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}`);
    try {
      if ((await fetch(url, { redirect: "manual" })).status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no answer on ${url}`);
}

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "xray-load-"));
  chmodSync(dataDir, 0o755);
  process.env.XRAY_DATA_DIR = dataDir;
  delete process.env.DATABASE_URL;
  const server = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    cwd: root,
    env: { ...process.env, PORT: String(PORT), HOSTNAME: "127.0.0.1", XRAY_WORKERS: WITH_ROUND ? "1" : "0" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const stop = async () => {
    if (server.exitCode === null) {
      server.kill("SIGTERM");
      await new Promise((r) => server.once("exit", r));
    }
  };
  try {
    await waitFor(`${BASE}/login`, server, 300_000);
    const platform = await openPlatform({ poolSize: 4, migrate: false });
    const db = platform.db;
    const [ds] = await db
      .select({ id: datasets.id, name: datasets.name })
      .from(datasets)
      .where(sql`${datasets.name} ilike '%knee%'`);
    if (!ds) throw new Error("no demo knee dataset");
    await db.update(datasets).set({ readsPerImage: 10 }).where(eq(datasets.id, ds.id));
    await db.execute(sql`update images set reads_needed = 10 where dataset_id = ${ds.id}`);
    const emails: string[] = [];
    for (let i = 0; i < ANNOTATORS; i++) {
      const email = `load-${i}@xray.local`;
      await createUser(db, { email, role: "annotator", password: PASSWORD, actor: null });
      emails.push(email);
    }
    const clients = emails.map(() => new Client());
    await Promise.all(clients.map((c, i) => c.login(emails[i] ?? "", PASSWORD)));

    let roundId: string | null = null;
    if (WITH_ROUND) {
      const researcher = new Client();
      await researcher.login("researcher@xray.local", "demo-researcher-xray");
      try {
        const round = await researcher.trpc<{ id: string }>("login", "rounds.start", {
          datasetId: ds.id,
          config: {},
        });
        roundId = round?.id ?? null;
      } catch (err) {
        console.error(`rounds.start refused: ${err instanceof Error ? err.message : err}`);
      }
    }

    const acknowledged: { id: string; imageId: string; user: number }[] = [];
    const windows: { imageId: string; user: number; from: number; to: number }[] = [];
    let exhausted = 0;
    const endAt = performance.now() + SECONDS * 1000;
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (client, user) => {
        while (performance.now() < endAt) {
          try {
            const item = await client.trpc<{ image: { id: string } } | null>("queue.next", "queue.next", {
              datasetId: ds.id,
            });
            if (!item) {
              exhausted++;
              await new Promise((r) => setTimeout(r, 1000));
              continue;
            }
            const from = performance.now();
            const img = await client.timed("image", `/api/images/${item.image.id}/full`);
            await img.arrayBuffer();
            if (!img.ok) countError(`image ${img.status}`);
            const to = performance.now();
            const read = await client.trpc<{ id: string }>("reads.submit", "reads.submit", {
              imageId: item.image.id,
              gate: user % 3 === 0 ? "abnormal" : "normal",
              findings: {},
              timeSpentMs: 1000,
            });
            windows.push({ imageId: item.image.id, user, from, to });
            acknowledged.push({ id: read.id, imageId: item.image.id, user });
          } catch (err) {
            countError(err instanceof TrpcFailure ? `trpc ${err.code}` : String(err));
          }
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;

    // Verification in the database.
    const rows = await db
      .select({ id: reads.id, imageId: reads.imageId, userId: reads.userId })
      .from(reads)
      .where(eq(reads.datasetId, ds.id));
    const stored = new Set(rows.map((r) => r.id));
    const missing = acknowledged.filter((a) => !stored.has(a.id)).length;
    const doubled = rows.length - new Set(rows.map((r) => `${r.imageId}/${r.userId}`)).size;
    const unacknowledged = rows.length - acknowledged.length;
    const byImage = new Map<string, typeof windows>();
    for (const w of windows) byImage.set(w.imageId, [...(byImage.get(w.imageId) ?? []), w]);
    let overlaps = 0;
    for (const ws of byImage.values()) {
      ws.sort((a, b) => a.from - b.from);
      for (let i = 1; i < ws.length; i++) {
        const prev = ws[i - 1];
        const cur = ws[i];
        if (prev && cur && cur.from < prev.to) overlaps++;
      }
    }
    let round = "not started";
    if (roundId) {
      const [r] = await db
        .select({ status: trainingRounds.status })
        .from(trainingRounds)
        .where(inArray(trainingRounds.id, [roundId]));
      round = `${roundId.slice(0, 8)}: ${r?.status ?? "?"}`;
    }
    await platform.close();

    const total = [...latencies.entries()]
      .filter(([k]) => k !== "login")
      .reduce((n, [, v]) => n + v.length, 0);
    console.log(
      `\nload test: ${ANNOTATORS} annotators, ${elapsed.toFixed(0)} s, ${(total / elapsed).toFixed(1)} requests/s`,
    );
    console.log("| route | requests | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|");
    for (const route of ["queue.next", "image", "reads.submit"] as const) {
      const v = latencies.get(route) ?? [];
      console.log(
        `| ${route} | ${v.length} | ${(v.length / elapsed).toFixed(1)} | ${pct(v, 50).toFixed(0)} | ${pct(v, 99).toFixed(0)} |`,
      );
    }
    console.log(`errors: ${errors.size === 0 ? "none" : JSON.stringify(Object.fromEntries(errors))}`);
    console.log(`queue empty answers: ${exhausted}; training round: ${round}`);
    console.log(
      `reads acknowledged ${acknowledged.length}, stored ${rows.length}, acknowledged but missing ${missing}, doubled ${doubled}, stored without acknowledgement ${unacknowledged}; overlapping holds ${overlaps}`,
    );
    const ok = missing === 0 && doubled === 0 && overlaps === 0 && unacknowledged >= 0;
    console.log(ok ? "verification: PASS" : "verification: FAIL");
    if (!ok) process.exitCode = 1;
  } finally {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
