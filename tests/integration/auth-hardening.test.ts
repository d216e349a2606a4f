/**
 * Auth hardening (docs/security.md): login throttling per account and per address on the real
 * login_attempts table, refusals in the audit log without secrets, the password policy on every way
 * a user is created, CSRF refusal of non-JSON tRPC posts, and the portal's security headers.
 */
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { appRouter, createCaller } from "@xray/api";
import { createAuthConfig, RateLimitedError } from "@xray/auth/config";
import { crossSiteRefusal } from "@xray/auth/csrf";
import { authenticateWithLimits, clientAddress, DEFAULT_LOGIN_LIMITS } from "@xray/auth/rate-limit";
import { createSessionValidator } from "@xray/auth/session";
import { createUser } from "@xray/core/users";
import { auditEvents, users } from "@xray/db";
import { eq } from "drizzle-orm";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { securityHeaders } from "../../apps/web/next.config";
// next is a dependency of the portal only: its NextRequest from there, the one the proxy gets.
import { NextRequest } from "../../apps/web/node_modules/next/server.js";
import { proxy } from "../../apps/web/src/proxy";
import { useTestDatabase } from "../db";
import { type ApiFixtures, contextFor, seedApiFixtures } from "./fixtures";

const PASSWORD = "Hardening-pass-2026";
const WRONG = "Wrong-guess-0000";

describe("auth hardening", () => {
  const tdb = useTestDatabase();
  let db: Awaited<typeof tdb>["db"];
  let f: ApiFixtures;
  beforeAll(async () => {
    db = (await tdb).db;
    f = await seedApiFixtures(db);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("locks an account after 5 failures in 15 minutes, even for the right password, then lets it in again", async () => {
    await createUser(db, { email: "locked@clinic.test", role: "annotator", password: PASSWORD, actor: null });
    const t0 = new Date("2030-01-01T10:00:00Z");
    // Failures spread over several addresses: the account limit does not depend on the address.
    for (let i = 0; i < DEFAULT_LOGIN_LIMITS.perAccount; i++) {
      const r = await authenticateWithLimits(
        db,
        { email: "locked@clinic.test", password: WRONG },
        { address: `10.0.0.${i}`, now: t0 },
      );
      expect(r).toEqual({ ok: false, reason: "invalid-credentials" });
    }
    const right = { email: "LOCKED@clinic.test ", password: PASSWORD };
    expect(await authenticateWithLimits(db, right, { address: "10.9.9.9", now: t0 })).toEqual({
      ok: false,
      reason: "rate-limited",
      scope: "account",
    });
    // Another account from the same addresses is unaffected.
    await createUser(db, { email: "free@clinic.test", role: "annotator", password: PASSWORD, actor: null });
    const other = await authenticateWithLimits(
      db,
      { email: "free@clinic.test", password: PASSWORD },
      { address: "10.0.0.1", now: t0 },
    );
    expect(other.ok).toBe(true);
    // After the window the right password works again.
    const later = new Date(t0.getTime() + DEFAULT_LOGIN_LIMITS.windowMs + 1000);
    expect((await authenticateWithLimits(db, right, { address: "10.9.9.9", now: later })).ok).toBe(true);
  });

  it("counts an account's failures only since its last successful sign-in", async () => {
    await createUser(db, { email: "typo@clinic.test", role: "annotator", password: PASSWORD, actor: null });
    const t0 = new Date("2030-02-01T10:00:00Z");
    const at = (s: number) => ({ address: "10.1.1.1", now: new Date(t0.getTime() + s * 1000) });
    const wrong = { email: "typo@clinic.test", password: WRONG };
    const right = { email: "typo@clinic.test", password: PASSWORD };
    for (let i = 0; i < 4; i++) await authenticateWithLimits(db, wrong, at(i));
    expect((await authenticateWithLimits(db, right, at(10))).ok).toBe(true);
    for (let i = 0; i < 4; i++) await authenticateWithLimits(db, wrong, at(20 + i));
    expect((await authenticateWithLimits(db, right, at(30))).ok).toBe(true);
  });

  it("locks an address that sprays many accounts, and only that address", async () => {
    await createUser(db, { email: "victim@clinic.test", role: "lead", password: PASSWORD, actor: null });
    const t0 = new Date("2030-03-01T10:00:00Z");
    for (let i = 0; i < DEFAULT_LOGIN_LIMITS.perAddress; i++) {
      await authenticateWithLimits(
        db,
        { email: `guess-${i}@clinic.test`, password: WRONG },
        { address: "203.0.113.7", now: t0 },
      );
    }
    const victim = { email: "victim@clinic.test", password: PASSWORD };
    expect(await authenticateWithLimits(db, victim, { address: "203.0.113.7", now: t0 })).toEqual({
      ok: false,
      reason: "rate-limited",
      scope: "address",
    });
    expect((await authenticateWithLimits(db, victim, { address: "198.51.100.1", now: t0 })).ok).toBe(true);
  });

  it("takes the address from the last X-Forwarded-For hop (the socket, as the web server pinned it)", () => {
    expect(clientAddress(new Headers({ "x-forwarded-for": "6.6.6.6, 192.0.2.10" }))).toBe("192.0.2.10");
    // X-Real-IP is never believed: nothing in front of the app vouches for it.
    expect(clientAddress(new Headers({ "x-real-ip": "192.0.2.11" }))).toBe("");
    expect(clientAddress(new Headers())).toBe("");
    expect(clientAddress(undefined)).toBe("");
  });

  it("the sign-in provider refuses a locked account with a clear code, audits it, and logs no secret", async () => {
    const secretPassword = "Never-log-me-42!";
    await createUser(db, {
      email: "provider@clinic.test",
      role: "annotator",
      password: secretPassword,
      actor: null,
    });
    const logged: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const)
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logged.push(args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : String(a))).join(" "));
      });
    const authSecret = "s".repeat(40);
    const config = createAuthConfig({
      secret: authSecret,
      getDb: () => db,
      validator: createSessionValidator(() => db),
    });
    const provider = config.providers[0];
    const authorize =
      provider && typeof provider === "object" && "options" in provider
        ? (provider.options as { authorize?: (c: unknown, r: Request) => Promise<unknown> }).authorize
        : undefined;
    if (!authorize) throw new Error("no credentials provider");
    const request = new Request("http://127.0.0.1/api/auth/callback/credentials", {
      method: "POST",
      headers: { "x-forwarded-for": "192.0.2.99" },
    });
    const wrongGuesses = Array.from(
      { length: DEFAULT_LOGIN_LIMITS.perAccount },
      (_, i) => `${secretPassword}-${i}`,
    );
    for (const guess of wrongGuesses) {
      await expect(
        authorize({ email: "provider@clinic.test", password: guess }, request),
      ).rejects.toMatchObject({
        code: "invalid-credentials",
      });
    }
    const refused = authorize({ email: "provider@clinic.test", password: secretPassword }, request);
    await expect(refused).rejects.toBeInstanceOf(RateLimitedError);
    await expect(refused).rejects.toMatchObject({ code: "rate-limited" });
    // next-auth hands refusals to the configured logger: it must not print the e-mail or password.
    for (const err of [new RateLimitedError(), new Error("db down")]) config.logger?.error?.(err);

    const events = await db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.resourceId, "provider@clinic.test"));
    expect(events.map((e) => [e.action, e.details.reason, e.details.address])).toEqual([
      ...wrongGuesses.map(() => ["auth.login_failed", "invalid-credentials", "192.0.2.99"]),
      ["auth.login_failed", "rate-limited", "192.0.2.99"],
    ]);
    const everything = JSON.stringify(events) + logged.join("\n");
    for (const secret of [secretPassword, ...wrongGuesses, authSecret])
      expect(everything).not.toContain(secret);
    expect(logged.join("\n")).not.toContain("provider@clinic.test");
    expect(logged.join("\n")).toContain("rate-limited");
  });

  it("enforces the password policy when an admin creates a user", async () => {
    const admin = createCaller(contextFor(f, f.users.admin));
    for (const password of ["short-1A", "alllowercaseletters", "Weakling-2026-pass"]) {
      await expect(
        admin.users.create({ email: "weakling@clinic.test", role: "annotator", password }),
      ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    }
    const rows = await db.select().from(users).where(eq(users.email, "weakling@clinic.test"));
    expect(rows).toHaveLength(0);
    await expect(
      createUser(db, { email: "weak2@clinic.test", role: "annotator", password: "password", actor: null }),
    ).rejects.toThrow(/password needs/);
  });

  it("refuses cross-site style tRPC posts (form, multipart, text/plain) and runs only JSON ones", async () => {
    const call = (contentType: string | null, body: BodyInit) =>
      fetchRequestHandler({
        endpoint: "/api/trpc",
        req: new Request("http://127.0.0.1:3000/api/trpc/users.setDisabled", {
          method: "POST",
          headers: contentType ? { "content-type": contentType } : {},
          body,
        }),
        router: appRouter,
        createContext: () => contextFor(f, f.users.admin),
      });
    // The portal's client sends superjson: {"json": input}.
    const input = JSON.stringify({ json: { userId: f.target.id, disabled: true } });
    const form = new FormData();
    form.set("userId", f.target.id);
    form.set("disabled", "true");
    for (const [type, body] of [
      ["text/plain", input],
      ["application/x-www-form-urlencoded", `userId=${f.target.id}&disabled=true`],
      [null, form],
    ] as const) {
      const res = await call(type, body);
      expect(res.status, `content-type ${type ?? "multipart"}`).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      const [row] = await db.select({ d: users.disabledAt }).from(users).where(eq(users.id, f.target.id));
      expect(row?.d).toBeNull();
    }
    // The same call as JSON (what the portal's client sends) does run.
    const ok = await call("application/json", input);
    expect(ok.status).toBe(200);
    const [row] = await db.select({ d: users.disabledAt }).from(users).where(eq(users.id, f.target.id));
    expect(row?.d).not.toBeNull();
  });
});

describe("cross-site refusal for state-changing route handlers (tRPC, uploads)", () => {
  const post = (headers: Record<string, string>, method = "POST") =>
    crossSiteRefusal(new Request("http://portal.test:3000/api/imports", { method, headers }));

  it("refuses posts from another site or origin", async () => {
    const cases: Record<string, string>[] = [
      { "sec-fetch-site": "cross-site", host: "portal.test:3000" },
      { "sec-fetch-site": "same-site", host: "portal.test:3000" },
      { origin: "http://evil.test", host: "portal.test:3000" },
      { origin: "http://portal.test:3001", host: "portal.test:3000" },
      { origin: "null", host: "portal.test:3000" },
      { origin: "http://portal.test:3000", host: "portal.test:3000", "x-forwarded-host": "other.test" },
    ];
    for (const headers of cases) {
      const res = post(headers);
      expect(res?.status, JSON.stringify(headers)).toBe(403);
      expect(await res?.json()).toEqual({ error: "cross-site request refused" });
    }
  });

  it("lets same-origin browsers, non-browser clients and reads through", () => {
    expect(
      post({ "sec-fetch-site": "same-origin", origin: "http://portal.test:3000", host: "portal.test:3000" }),
    ).toBeNull();
    expect(
      post({ origin: "https://portal.example", host: "internal:3000", "x-forwarded-host": "portal.example" }),
    ).toBeNull();
    expect(post({})).toBeNull();
    expect(post({ "sec-fetch-site": "cross-site" }, "GET")).toBeNull();
  });
});

describe("security headers", () => {
  const byKey = (dev: boolean, nonce: string | null = null) =>
    new Map(securityHeaders(dev, nonce).map((h) => [h.key.toLowerCase(), h.value]));
  const directivesOf = (csp: string) =>
    new Map(
      csp.split(";").map((d) => {
        const [name = "", ...values] = d.trim().split(/\s+/);
        return [name, values] as const;
      }),
    );

  it("production: strict CSP, no framing, nosniff, referrer and permissions policies", () => {
    const h = byKey(false, "bm9uY2Utb2YtdGhpcy1yZXE=");
    const csp = h.get("content-security-policy") ?? "";
    const directives = directivesOf(csp);
    expect(directives.get("default-src")).toEqual(["'self'"]);
    expect(directives.get("frame-ancestors")).toEqual(["'none'"]);
    expect(directives.get("object-src")).toEqual(["'none'"]);
    expect(directives.get("base-uri")).toEqual(["'self'"]);
    expect(directives.get("form-action")).toEqual(["'self'"]);
    expect(directives.get("connect-src")).toEqual(["'self'"]);
    // Scripts: this origin and the request's nonce only; no inline script, no eval, no foreign origin.
    expect(directives.get("script-src")).toEqual([
      "'self'",
      "'nonce-bm9uY2Utb2YtdGhpcy1yZXE='",
      "'strict-dynamic'",
    ]);
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).not.toMatch(/https?:|\*/);
    expect(h.get("x-frame-options")).toBe("DENY");
    expect(h.get("x-content-type-options")).toBe("nosniff");
    expect(h.get("referrer-policy")).toBe("same-origin");
    expect(h.get("permissions-policy")).toContain("camera=()");
    // Without a nonce (Next's own files): this origin's script files, still no inline script.
    const plain = directivesOf(byKey(false).get("content-security-policy") ?? "");
    expect(plain.get("script-src")).toEqual(["'self'"]);
  });

  it("development only adds eval and the refresh socket", () => {
    const csp = byKey(true, "abc").get("content-security-policy") ?? "";
    expect(csp).toContain("'unsafe-eval'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(directivesOf(csp).get("script-src")).not.toContain("'unsafe-inline'");
  });

  it("the proxy gives every request and response a fresh nonce in a policy without 'unsafe-inline'", async () => {
    vi.stubEnv("AUTH_SECRET", "p".repeat(40));
    try {
      const nonces = new Set<string>();
      for (const path of ["/login", "/login", "/api/trpc/session.get", "/read"]) {
        const res = await proxy(new NextRequest(`http://127.0.0.1:3000${path}`));
        const csp = res.headers.get("content-security-policy") ?? "";
        const script = directivesOf(csp).get("script-src") ?? [];
        expect(script, path).not.toContain("'unsafe-inline'");
        expect(script, path).toContain("'strict-dynamic'");
        const nonce = script.find((s) => s.startsWith("'nonce-"));
        expect(nonce, path).toMatch(/^'nonce-[A-Za-z0-9+/]{22}=='$/);
        nonces.add(nonce ?? "");
        if (path === "/read") {
          // Signed out on a portal page: the redirect to the login page carries the policy too.
          expect(res.headers.get("location")).toContain("/login?from=%2Fread");
        } else {
          // Next reads the nonce from the request's policy: the same one is forwarded with the request.
          expect(res.headers.get("x-middleware-request-content-security-policy")).toBe(csp);
        }
        expect(csp, path).toContain("frame-ancestors 'none'");
      }
      expect(nonces.size).toBe(4);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
