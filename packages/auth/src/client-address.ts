import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";

/**
 * Which client address a request came from, in a way a client cannot choose (docs/security.md).
 *
 * The web server (scripts/web-server.ts) rewrites X-Forwarded-For on every request before Next sees
 * it: from a peer that is not a trusted proxy the header becomes exactly the socket's address (what
 * the client sent is dropped); from a trusted proxy (XRAY_TRUSTED_PROXIES) the socket's address is
 * appended to what the proxy sent. The app then walks that list from the right, skipping trusted
 * proxies: the first other entry is the client, as the nearest trusted proxy saw it.
 */

export interface TrustedProxies {
  /** The operator's list as given (for logs). */
  readonly entries: readonly string[];
  has(address: string): boolean;
}

/** "::ffff:127.0.0.1" → "127.0.0.1"; trims and lower-cases; "" for anything that is not an IP. */
export function normalizeAddress(raw: string | null | undefined): string {
  let a = (raw ?? "").trim().toLowerCase();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  if (a.startsWith("::ffff:") && isIP(a.slice(7)) === 4) a = a.slice(7);
  return isIP(a) ? a : "";
}

/**
 * Parses XRAY_TRUSTED_PROXIES: comma-separated addresses or CIDR ranges ("127.0.0.1, ::1,
 * 10.0.0.0/8"). Throws on an entry that is neither, so a typo does not silently trust nobody.
 */
export function parseTrustedProxies(value: string | undefined): TrustedProxies {
  const list = new BlockList();
  const entries = (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const entry of entries) {
    const [addr = "", bits, ...rest] = entry.split("/");
    const ip = normalizeAddress(addr);
    const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
    const prefix = bits === undefined ? undefined : Number(bits);
    if (
      !ip ||
      rest.length > 0 ||
      (prefix !== undefined &&
        (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === "ipv6" ? 128 : 32)))
    ) {
      throw new Error(`XRAY_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR range`);
    }
    if (prefix === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, prefix, family);
  }
  return {
    entries,
    has(address: string) {
      const ip = normalizeAddress(address);
      if (!ip) return false;
      return list.check(ip, isIP(ip) === 6 ? "ipv6" : "ipv4");
    },
  };
}

/** The deployment's trusted proxies, from XRAY_TRUSTED_PROXIES (none when unset). */
export function trustedProxiesFromEnv(env: NodeJS.ProcessEnv = process.env): TrustedProxies {
  return parseTrustedProxies(env.XRAY_TRUSTED_PROXIES);
}

/**
 * The X-Forwarded-For value the web server hands to Next for a request that arrived on a socket
 * from `remoteAddress` carrying `incoming` (the client's own header, if any): only a trusted
 * proxy's header is kept, and the socket address is always the last entry.
 */
export function forwardedForFromSocket(
  incoming: string | string[] | undefined,
  remoteAddress: string | undefined,
  trusted: TrustedProxies,
): string {
  const remote = normalizeAddress(remoteAddress) || "unknown";
  if (!trusted.has(remote)) return remote;
  const earlier = (Array.isArray(incoming) ? incoming.join(",") : (incoming ?? ""))
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return [...earlier, remote].join(", ");
}

/**
 * The client address for throttling and the audit log: the right-most X-Forwarded-For entry that
 * is not a trusted proxy (the left-most one when every hop is trusted). X-Real-IP is never read:
 * nothing in front of the app vouches for it.
 */
export function clientAddress(
  headers: Headers | null | undefined,
  trusted: TrustedProxies = trustedProxiesFromEnv(),
): string {
  const hops = (headers?.get("x-forwarded-for") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] ?? "";
    if (i === 0 || !trusted.has(hop)) return (normalizeAddress(hop) || hop).slice(0, 100);
  }
  return "";
}

/**
 * What the web server does to every request before Next sees it: X-Forwarded-For rebuilt from the
 * socket (see forwardedForFromSocket) and X-Real-IP dropped. Next only fills X-Forwarded-For from the
 * socket when the header is missing, so without this a client could name its own address.
 */
export function pinForwardedFor(req: IncomingMessage, trusted: TrustedProxies): void {
  req.headers["x-forwarded-for"] = forwardedForFromSocket(
    req.headers["x-forwarded-for"],
    req.socket.remoteAddress,
    trusted,
  );
  delete req.headers["x-real-ip"];
}
