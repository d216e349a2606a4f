/**
 * The login throttle's client address cannot be chosen by the client (docs/security.md): the web
 * server (apps/web/server-tasks/web-server.ts) pins X-Forwarded-For to the socket with
 * pinForwardedFor before Next runs, unless the socket is a trusted proxy (XRAY_TRUSTED_PROXIES).
 * Here the same function sits in front of a real http server whose handler does what the sign-in
 * provider does (clientAddress -> authenticateWithLimits on a real database).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  clientAddress,
  forwardedForFromSocket,
  normalizeAddress,
  parseTrustedProxies,
  pinForwardedFor,
  type TrustedProxies,
} from "@xray/auth/client-address";
import { authenticateWithLimits, DEFAULT_LOGIN_LIMITS } from "@xray/auth/rate-limit";
import { createUser } from "@xray/core/users";
import { loginAttempts } from "@xray/db";
import { eq } from "drizzle-orm";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../db";

const PASSWORD = "Proxy-trust-pass-2026";

describe("client address parsing", () => {
  it("normalises addresses and refuses junk", () => {
    expect(normalizeAddress("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(normalizeAddress(" [::1] ")).toBe("::1");
    expect(normalizeAddress("2001:DB8::1")).toBe("2001:db8::1");
    expect(normalizeAddress("evil.example")).toBe("");
    expect(normalizeAddress(undefined)).toBe("");
  });

  it("parses XRAY_TRUSTED_PROXIES (addresses and CIDR ranges) and refuses typos", () => {
    const t = parseTrustedProxies("127.0.0.1, ::1 ,10.0.0.0/8,");
    expect(t.entries).toEqual(["127.0.0.1", "::1", "10.0.0.0/8"]);
    expect(t.has("127.0.0.1")).toBe(true);
    expect(t.has("::ffff:127.0.0.1")).toBe(true);
    expect(t.has("::1")).toBe(true);
    expect(t.has("10.200.3.4")).toBe(true);
    expect(t.has("11.0.0.1")).toBe(false);
    expect(t.has("not-an-ip")).toBe(false);
    expect(parseTrustedProxies(undefined).has("127.0.0.1")).toBe(false);
    for (const bad of ["localhost", "10.0.0.0/33", "1.2.3.4/8/1", "1.2.3"])
      expect(() => parseTrustedProxies(bad), bad).toThrow(/XRAY_TRUSTED_PROXIES/);
  });

  it("keeps a forwarded chain only from a trusted peer, and always ends it with the socket", () => {
    const none = parseTrustedProxies("");
    const lo = parseTrustedProxies("127.0.0.1");
    expect(forwardedForFromSocket("6.6.6.6", "::ffff:127.0.0.1", none)).toBe("127.0.0.1");
    expect(forwardedForFromSocket(undefined, "127.0.0.1", lo)).toBe("127.0.0.1");
    expect(forwardedForFromSocket("6.6.6.6, 192.0.2.10", "127.0.0.1", lo)).toBe(
      "6.6.6.6, 192.0.2.10, 127.0.0.1",
    );
    expect(forwardedForFromSocket(["6.6.6.6", "192.0.2.10"], "127.0.0.1", lo)).toBe(
      "6.6.6.6, 192.0.2.10, 127.0.0.1",
    );
    // The client is the right-most hop that is not a trusted proxy.
    const h = (xff: string) => new Headers({ "x-forwarded-for": xff });
    expect(clientAddress(h("6.6.6.6, 192.0.2.10, 127.0.0.1"), lo)).toBe("192.0.2.10");
    expect(clientAddress(h("6.6.6.6, 192.0.2.10, 127.0.0.1"), none)).toBe("127.0.0.1");
    expect(clientAddress(h("127.0.0.1"), lo)).toBe("127.0.0.1");
    const chain = parseTrustedProxies("127.0.0.1, 10.0.0.0/8");
    expect(clientAddress(h("6.6.6.6, 198.51.100.4, 10.1.1.1, 127.0.0.1"), chain)).toBe("198.51.100.4");
  });
});

describe("login throttle behind the web server's X-Forwarded-For pinning", () => {
  const tdb = useTestDatabase();
  let db: Awaited<typeof tdb>["db"];
  let server: Server | null = null;

  beforeAll(async () => {
    db = (await tdb).db;
    await createUser(db, { email: "pinned@clinic.test", role: "lead", password: PASSWORD, actor: null });
  });
  afterEach(async () => {
    const s = server;
    server = null;
    if (s) await new Promise((r) => s.close(r));
  });

  /** A loopback http server: pinForwardedFor, then the sign-in provider's throttle path. */
  async function loginServer(trusted: TrustedProxies, now: Date): Promise<string> {
    server = createServer((req, res) => {
      pinForwardedFor(req, trusted);
      let body = "";
      req.setEncoding("utf8").on("data", (c: string) => {
        body += c;
      });
      req.on("end", () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
        const address = clientAddress(headers, trusted);
        authenticateWithLimits(db, JSON.parse(body), { address, now })
          .then((r) => res.end(JSON.stringify({ address, ok: r.ok, reason: r.ok ? null : r.reason })))
          .catch((err: unknown) => {
            res.statusCode = 500;
            res.end(String(err));
          });
      });
    });
    const s = server;
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }

  async function attempt(url: string, email: string, password: string, headers: Record<string, string>) {
    const res = await fetch(url, { method: "POST", headers, body: JSON.stringify({ email, password }) });
    expect(res.status).toBe(200);
    return (await res.json()) as { address: string; ok: boolean; reason: string | null };
  }

  it("a spoofed X-Forwarded-For (and X-Real-IP) does not escape the per-address limit", async () => {
    const url = await loginServer(parseTrustedProxies(""), new Date("2031-01-01T10:00:00Z"));
    for (let i = 0; i < DEFAULT_LOGIN_LIMITS.perAddress; i++) {
      const r = await attempt(url, `spray-${i}@clinic.test`, "Wrong-guess-0000", {
        "x-forwarded-for": `203.0.113.${i}`,
        "x-real-ip": `198.51.100.${i}`,
      });
      expect(r).toEqual({ address: "127.0.0.1", ok: false, reason: "invalid-credentials" });
    }
    // The right password of a real account, from a "new" spoofed address: the loopback is locked.
    const locked = await attempt(url, "pinned@clinic.test", PASSWORD, { "x-forwarded-for": "192.0.2.200" });
    expect(locked).toEqual({ address: "127.0.0.1", ok: false, reason: "rate-limited" });
    const rows = await db.select().from(loginAttempts).where(eq(loginAttempts.address, "203.0.113.1"));
    expect(rows).toHaveLength(0);
  });

  it("with the loopback as a trusted proxy, the address it forwarded is the one throttled", async () => {
    const url = await loginServer(parseTrustedProxies("127.0.0.1"), new Date("2031-02-01T10:00:00Z"));
    for (let i = 0; i < DEFAULT_LOGIN_LIMITS.perAddress; i++) {
      // What a client put before the proxy's entry does not matter: the proxy appended the last one.
      const r = await attempt(url, `guess-${i}@clinic.test`, "Wrong-guess-0000", {
        "x-forwarded-for": `10.9.9.${i}, 198.51.100.77`,
      });
      expect(r).toEqual({ address: "198.51.100.77", ok: false, reason: "invalid-credentials" });
    }
    expect(
      await attempt(url, "pinned@clinic.test", PASSWORD, { "x-forwarded-for": "198.51.100.77" }),
    ).toEqual({ address: "198.51.100.77", ok: false, reason: "rate-limited" });
    // Another client behind the same proxy is not locked out.
    expect(
      await attempt(url, "pinned@clinic.test", PASSWORD, { "x-forwarded-for": "198.51.100.78" }),
    ).toEqual({ address: "198.51.100.78", ok: true, reason: null });
  });
});
