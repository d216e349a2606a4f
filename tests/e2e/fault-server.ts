/**
 * Helpers of the fault specs: a second production web server (the built portal, started the way
 * scripts/start.ts starts it, on its own port, against the e2e database and data folder, in its own
 * process group so that it can be SIGKILLed whole, with its output kept), and signed-in HTTP
 * sessions that call it like a browser.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Actor } from "@xray/core/actor";
import { e2eDatabaseUrl, e2eDataDir } from "./platform";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const webDir = path.join(root, "apps/web");

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The production build's web server, detached into its own process group (killed as a group). */
export class WebServer {
  private child: ChildProcess | null = null;
  output = "";
  constructor(readonly port: number) {}
  get base() {
    return `http://127.0.0.1:${this.port}`;
  }
  async start(): Promise<number> {
    const t0 = performance.now();
    const dataDir = e2eDataDir();
    // As scripts/start.ts runs it: Next's handler behind the small http server that pins the
    // client address (apps/web/server-tasks/web-server.ts), under tsx, from apps/web.
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(webDir, "server-tasks/web-server.ts")],
      {
        cwd: webDir,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          NODE_ENV: "production",
          NEXT_TELEMETRY_DISABLED: "1",
          PORT: String(this.port),
          HOSTNAME: "127.0.0.1",
          DATABASE_URL: e2eDatabaseUrl(),
          XRAY_DATA_DIR: dataDir,
          AUTH_SECRET: readFileSync(path.join(dataDir, "auth-secret"), "utf8").trim(),
          AUTH_TRUST_HOST: "true",
        },
      },
    );
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString("utf8")).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null)
        throw new Error(`the web server exited (${child.exitCode}): ${this.output}`);
      try {
        if ((await fetch(`${this.base}/login`, { redirect: "manual" })).status < 500)
          return performance.now() - t0;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the web server did not answer within 60 s: ${this.output}`);
  }
  /** SIGKILL of the whole process group (the server and anything it started). */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(-child.pid, "SIGKILL");
    await exited;
  }
}

export class TrpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** One user's HTTP session: next-auth's credentials sign-in, then tRPC and GETs with its cookie. */
export class HttpSession {
  private cookies = new Map<string, string>();
  constructor(
    readonly actor: Actor,
    readonly email: string,
    private password: string,
    private server: WebServer,
  ) {}
  async call(url: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(`${this.server.base}${url}`, {
      ...init,
      redirect: "manual",
      headers: {
        ...(init.headers as Record<string, string> | undefined),
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
      },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const i = pair.indexOf("=");
      if (i > 0) this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  }
  async signIn(): Promise<void> {
    const { csrfToken } = (await (await this.call("/api/auth/csrf")).json()) as { csrfToken: string };
    const res = await this.call("/api/auth/callback/credentials", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email: this.email, password: this.password, csrfToken }),
    });
    await res.arrayBuffer();
    if (![...this.cookies.keys()].some((k) => k.includes("session-token")))
      throw new Error(`sign-in of ${this.email} failed (${res.status})`);
  }
  async trpc<T>(procedure: string, input: unknown): Promise<T> {
    const res = await this.call(`/api/trpc/${procedure}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ json: input }),
    });
    const body = (await res.json()) as {
      result?: { data?: { json?: T } };
      error?: { json?: { message?: string; data?: { code?: string } } };
    };
    if (!res.ok || !body.result?.data)
      throw new TrpcError(
        body.error?.json?.data?.code ?? `HTTP ${res.status}`,
        body.error?.json?.message ?? "",
      );
    return body.result.data.json as T;
  }
}
