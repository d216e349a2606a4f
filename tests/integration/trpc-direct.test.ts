/**
 * The production web server's direct tRPC path (apps/web/server-tasks/trpc-direct.ts) against the
 * Next route it stands in for (apps/web/src/app/api/trpc/[trpc]/route.ts), on a real database with
 * real next-auth session cookies (minted with @auth/core's own encode, as sign-in does): the same
 * status and answer for the same request, 401 without or with a bad cookie, 403 for a role without
 * the permission and for a cross-site post, the portal's security headers, and the session
 * re-validation (a bumped session version ends the session).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { SessionUser } from "@xray/auth/session";
import { createSessionCookieReader, encodeSessionCookie } from "@xray/auth/session-cookie";
import { users } from "@xray/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directTrpcPath, serveTrpc } from "../../apps/web/server-tasks/trpc-direct";
import { GET, POST } from "../../apps/web/src/app/api/trpc/[trpc]/route";
import { getPlatform } from "../../apps/web/src/server/platform";
import { useTestDatabase } from "../db";
import { type ApiFixtures, seedApiFixtures } from "./fixtures";

const SECRET = randomBytes(48).toString("base64url");

async function cookieFor(
  user: SessionUser,
  opts: { secure?: boolean; maxAge?: number; secret?: string } = {},
): Promise<string> {
  return await encodeSessionCookie(
    {
      name: user.name,
      email: user.email,
      sub: user.id,
      claims: { userId: user.id, role: user.role, sessionVersion: user.sessionVersion },
    },
    { secret: opts.secret ?? SECRET, secure: opts.secure, maxAge: opts.maxAge ?? 3600 },
  );
}

/** Outside production tRPC adds the server's stack to errors; it names the adapter, so it differs. */
function withoutStack(body: unknown): unknown {
  return JSON.parse(JSON.stringify(body), (key, value) => (key === "stack" ? undefined : value));
}

interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

describe("direct tRPC path of the production web server", () => {
  const tdb = useTestDatabase();
  let f: ApiFixtures;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const t = await tdb;
    // What scripts/start.ts gives the web process; read lazily on the first request.
    process.env.DATABASE_URL = t.url;
    process.env.XRAY_DATA_DIR = mkdtempSync(path.join(os.tmpdir(), "xray-trpc-direct-"));
    process.env.AUTH_SECRET = SECRET;
    f = await seedApiFixtures(t.db);
    server = createServer((req, res) => {
      const procedure = directTrpcPath(req.method, req.url);
      if (procedure === null) {
        res.statusCode = 418; // would go to Next
        res.end();
        return;
      }
      void serveTrpc(req, res, procedure);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await getPlatform().db.$client.end();
  });

  /** The same request through the direct path (real socket) and through the Next route handler. */
  async function both(
    pathAndQuery: string,
    init: { method?: "GET" | "POST"; headers?: Record<string, string>; body?: unknown } = {},
  ): Promise<{ direct: Answer; route: Answer }> {
    const method = init.method ?? "GET";
    const headers: Record<string, string> = { ...init.headers };
    let body: string | undefined;
    if (method === "POST") {
      headers["content-type"] = "application/json";
      body = JSON.stringify({ json: init.body ?? {} });
    }
    const d = await fetch(`${base}${pathAndQuery}`, { method, headers, body });
    const direct = { status: d.status, body: withoutStack(await d.json()), headers: d.headers };
    // Next hands the route a Request whose X-Forwarded-Proto it filled in ("http" on a plain socket).
    const req = new Request(`http://127.0.0.1${pathAndQuery}`, {
      method,
      headers: { host: new URL(base).host, "x-forwarded-proto": "http", ...headers },
      body,
    });
    const r = await (method === "GET" ? GET(req) : POST(req));
    const route = { status: r.status, body: withoutStack(await r.json()), headers: r.headers };
    return { direct, route };
  }

  const code = (a: Answer) =>
    (a.body as { error?: { json?: { data?: { code?: string } } } }).error?.json?.data?.code;

  it("routes only what the Next route matches", () => {
    expect(directTrpcPath("POST", "/api/trpc/queue.next")).toBe("queue.next");
    expect(directTrpcPath("GET", "/api/trpc/session.me,session.me?batch=1&input=%7B%7D")).toBe(
      "session.me,session.me",
    );
    expect(directTrpcPath("PUT", "/api/trpc/queue.next")).toBeNull();
    expect(directTrpcPath("GET", "/api/trpc/")).toBeNull();
    expect(directTrpcPath("GET", "/api/trpc/a/b")).toBeNull();
    expect(directTrpcPath("GET", "/api/trpc/../auth/session")).toBeNull();
    expect(directTrpcPath("GET", "/api/trpcx/session.me")).toBeNull();
    expect(directTrpcPath("GET", "/api/images/x/thumb")).toBeNull();
  });

  it("gives the same answer as the Next route for the same signed-in calls", async () => {
    const cookie = await cookieFor(f.users.annotator);
    const me = await both("/api/trpc/session.me", { headers: { cookie } });
    expect(me.direct.status).toBe(200);
    expect(me.direct.body).toEqual(me.route.body);
    expect(me.direct.body).toMatchObject({ result: { data: { json: { id: f.users.annotator.id } } } });

    // A mutation: after a first lease both paths renew the caller's own lease, so they name the
    // same image (only the renewed expiry time differs).
    const post = {
      method: "POST" as const,
      headers: { cookie, origin: base },
      body: { datasetId: f.datasetId },
    };
    expect((await both("/api/trpc/queue.next", post)).direct.status).toBe(200);
    const next = await both("/api/trpc/queue.next", post);
    expect([next.direct.status, next.route.status]).toEqual([200, 200]);
    type Leased = { result: { data: { json: { image: unknown; resumed: boolean }; meta: unknown } } };
    const leased = (a: Answer) => {
      const { json, meta } = (a.body as Leased).result.data;
      return { image: json.image, resumed: json.resumed, meta };
    };
    expect(leased(next.direct)).toEqual(leased(next.route));
    expect(leased(next.direct)).toMatchObject({ image: { id: f.imageId }, resumed: true });

    const batch = await both(
      `/api/trpc/session.me,queue.mine?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: {}, 1: { json: {} } }))}`,
      { headers: { cookie } },
    );
    expect(batch.direct.status).toBe(200);
    expect(batch.direct.body).toEqual(batch.route.body);

    const missing = await both("/api/trpc/no.such", { headers: { cookie } });
    expect([missing.direct.status, missing.route.status]).toEqual([404, 404]);
    expect(missing.direct.body).toEqual(missing.route.body);
  });

  it("answers 401 without a session and with a tampered, expired or foreign cookie", async () => {
    const good = await cookieFor(f.users.annotator);
    const [name, value = ""] = good.split("=");
    const flip = value.at(-5) === "A" ? "B" : "A";
    const tampered = `${name}=${value.slice(0, -5)}${flip}${value.slice(-4)}`;
    const cases: Record<string, Record<string, string>> = {
      none: {},
      garbage: { cookie: `${name}=not-a-jwt` },
      tampered: { cookie: tampered },
      // Past its exp by more than jose's 15 s clock tolerance.
      expired: { cookie: await cookieFor(f.users.annotator, { maxAge: -120 }) },
      "other secret": { cookie: await cookieFor(f.users.annotator, { secret: "x".repeat(48) }) },
      // next-auth reads the __Secure- cookie only when the request is https.
      "secure cookie over http": { cookie: await cookieFor(f.users.annotator, { secure: true }) },
    };
    for (const [label, headers] of Object.entries(cases)) {
      const { direct, route } = await both("/api/trpc/session.me", { headers });
      expect(direct.status, label).toBe(401);
      expect(code(direct), label).toBe("UNAUTHORIZED");
      expect(direct.body, label).toEqual(route.body);
    }
  });

  it("reads the __Secure- cookie behind https, and a chunked cookie", async () => {
    const secure = await cookieFor(f.users.lead, { secure: true });
    const overHttps = await fetch(`${base}/api/trpc/session.me`, {
      headers: { cookie: secure, "x-forwarded-proto": "https" },
    });
    expect(overHttps.status).toBe(200);
    const plain = await cookieFor(f.users.lead);
    const [name, value = ""] = plain.split("=");
    const half = Math.floor(value.length / 2);
    const chunked = `${name}.1=${value.slice(half)}; ${name}.0=${value.slice(0, half)}`;
    const { direct, route } = await both("/api/trpc/session.me", { headers: { cookie: chunked } });
    expect(direct.status).toBe(200);
    expect(direct.body).toEqual(route.body);
    expect(direct.body).toMatchObject({ result: { data: { json: { id: f.users.lead.id } } } });
  });

  it("answers 403 to a role without the permission", async () => {
    const cookie = await cookieFor(f.users.researcher);
    const { direct, route } = await both("/api/trpc/queue.next", {
      method: "POST",
      headers: { cookie },
      body: { datasetId: f.datasetId },
    });
    expect(direct.status).toBe(403);
    expect(code(direct)).toBe("FORBIDDEN");
    expect(direct.body).toEqual(route.body);
  });

  it("refuses cross-site posts before any procedure runs", async () => {
    const cookie = await cookieFor(f.target);
    const hostile: Record<string, string>[] = [
      { cookie, origin: "http://evil.example" },
      { cookie, "sec-fetch-site": "cross-site" },
      { cookie, origin: "null" },
    ];
    for (const headers of hostile) {
      const { direct, route } = await both("/api/trpc/queue.next", {
        method: "POST",
        headers,
        body: { datasetId: f.datasetId },
      });
      expect(direct.status).toBe(403);
      expect(direct.body).toEqual({ error: "cross-site request refused" });
      expect(direct.body).toEqual(route.body);
      expect(direct.headers.get("cache-control")).toBe("no-store");
    }
    // The refused calls leased nothing for this user.
    const mine = await fetch(`${base}/api/trpc/queue.mine?input=${encodeURIComponent('{"json":{}}')}`, {
      headers: { cookie },
    });
    expect(mine.status).toBe(200);
    expect(await mine.json()).toEqual({ result: { data: { json: [] } } });
  });

  it("sends the portal's security headers, a fresh CSP nonce each time, and no compression", async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${base}/api/trpc/session.me`, { headers: { "accept-encoding": "gzip" } });
      await res.arrayBuffer();
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("referrer-policy")).toBe("same-origin");
      expect(res.headers.get("permissions-policy")).toContain("camera=()");
      expect(res.headers.get("cross-origin-opener-policy")).toBe("same-origin");
      expect(res.headers.get("content-encoding")).toBeNull();
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-eval");
      nonces.add(/'nonce-([^']+)'/.exec(csp)?.[1] ?? "");
    }
    expect(nonces.size).toBe(2);
  });

  it("re-validates the session: a bumped session version ends it", async () => {
    const cookie = await cookieFor(f.target);
    const ok = await fetch(`${base}/api/trpc/session.me`, { headers: { cookie } });
    expect(ok.status).toBe(200);
    await f.db
      .update(users)
      .set({ sessionVersion: f.target.sessionVersion + 1 })
      .where(eq(users.id, f.target.id));
    getPlatform().sessions.forget(f.target.id);
    const { direct, route } = await both("/api/trpc/session.me", { headers: { cookie } });
    expect(direct.status).toBe(401);
    expect(direct.body).toEqual(route.body);
  });

  it("caches decoded tokens, bounded", async () => {
    const reader = createSessionCookieReader({ secret: SECRET, maxEntries: 2, env: {} });
    const cookies = [
      await cookieFor(f.users.admin),
      await cookieFor(f.users.lead),
      await cookieFor(f.users.annotator),
    ];
    for (const cookie of cookies) {
      const token = await reader.read((n) => (n === "cookie" ? cookie : null));
      expect(token?.claims).toBeDefined();
    }
    expect(reader.size).toBe(2);
    const again = await reader.read((n) => (n === "cookie" ? (cookies[2] ?? null) : null));
    expect(again?.sub).toBe(f.users.annotator.id);
    expect(reader.size).toBe(2);
  });
});
