/**
 * Reads the session claims from the next-auth session cookie without next-auth's request
 * machinery, for the production web server's direct tRPC path (and the Next route, so both read a
 * cookie the same way). The cookie is found and decoded by @auth/core's own getToken/decode (same
 * cookie name, `__Secure-` prefix, chunked `.0/.1` cookies joined, salt = the cookie name), and a
 * decoded token is remembered until its `exp` so the HKDF key derivation and the decryption run
 * once per token instead of once per request.
 *
 * Which cookie: next-auth uses the secure (`__Secure-`) name when the session URL is https, i.e.
 * AUTH_URL / NEXTAUTH_URL when set, else the request's X-Forwarded-Proto (which Next fills with
 * "http" for a plain socket). The same rule is applied here.
 *
 * The claims are NOT trusted as they are: callers re-validate them against the database
 * (SessionValidator.validate), exactly as the next-auth path does.
 */
import { decode, encode, getToken, type JWT } from "@auth/core/jwt";
import type { HeaderReader } from "./csrf";

export interface SessionCookieReaderOptions {
  secret: string;
  /** Decoded tokens kept (oldest dropped first). */
  maxEntries?: number;
  /** AUTH_URL / NEXTAUTH_URL, as next-auth reads them (they decide the cookie name when set). */
  env?: { AUTH_URL?: string; NEXTAUTH_URL?: string };
  now?: () => number;
}

export interface SessionCookieReader {
  /** The decoded session token of a request (cookie + X-Forwarded-Proto), or null. */
  read(header: HeaderReader): Promise<JWT | null>;
  /** How many decoded tokens are cached (for tests). */
  readonly size: number;
}

const COOKIE = "authjs.session-token";

/** The session cookie's name as next-auth picks it for a request. */
export function sessionCookieName(secure: boolean): string {
  return secure ? `__Secure-${COOKIE}` : COOKIE;
}

/** Whether next-auth would use the secure cookie for a request with these headers. */
export function usesSecureCookie(header: HeaderReader, env: SessionCookieReaderOptions["env"] = {}): boolean {
  const envUrl = env.AUTH_URL ?? env.NEXTAUTH_URL;
  if (envUrl) {
    try {
      return new URL(envUrl).protocol === "https:";
    } catch {
      return false;
    }
  }
  const proto = header("x-forwarded-proto") ?? "http";
  return proto === "https" || proto === "https:";
}

export function createSessionCookieReader(opts: SessionCookieReaderOptions): SessionCookieReader {
  const maxEntries = opts.maxEntries ?? 10_000;
  const now = opts.now ?? Date.now;
  const env = opts.env ?? { AUTH_URL: process.env.AUTH_URL, NEXTAUTH_URL: process.env.NEXTAUTH_URL };
  const cache = new Map<string, { token: JWT; expiresAt: number }>();

  // getToken's decode hook: a cached answer while the token is unexpired, else @auth/core's decode.
  const cachedDecode = async (params: { token?: string; secret: string | string[]; salt: string }) => {
    if (!params.token) return null;
    const key = `${params.salt}\u0000${params.token}`;
    const hit = cache.get(key);
    if (hit) {
      if (now() < hit.expiresAt) return hit.token;
      cache.delete(key);
    }
    // Throws on a tampered, foreign or expired token; getToken turns that into null.
    const token = await decode({ token: params.token, secret: params.secret, salt: params.salt });
    if (token && typeof token.exp === "number") {
      if (cache.size >= maxEntries) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(key, { token, expiresAt: token.exp * 1000 });
    }
    return token;
  };

  return {
    async read(header) {
      const cookie = header("cookie");
      if (!cookie) return null;
      const secure = usesSecureCookie(header, env);
      // Only the cookie travels: next-auth's session route reads no Authorization header either.
      return await getToken({
        req: { headers: { cookie } },
        secret: opts.secret,
        secureCookie: secure,
        cookieName: sessionCookieName(secure),
        salt: sessionCookieName(secure),
        decode: cachedDecode,
      });
    },
    get size() {
      return cache.size;
    },
  };
}

/**
 * A session cookie ("name=value") as next-auth's sign-in issues it, for tests and benchmarks that
 * need a signed-in client without the sign-in form.
 */
export async function encodeSessionCookie(
  token: JWT,
  opts: { secret: string; secure?: boolean; maxAge: number },
): Promise<string> {
  const name = sessionCookieName(opts.secure ?? false);
  return `${name}=${await encode({ token, secret: opts.secret, salt: name, maxAge: opts.maxAge })}`;
}
