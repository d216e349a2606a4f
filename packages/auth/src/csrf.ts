/**
 * Cross-site request refusal for route handlers that change state (tRPC posts, uploads). Browsers
 * send Sec-Fetch-Site and Origin on every POST; a request that says it comes from another site, or
 * whose Origin is not this host, is refused. Clients that send neither (curl, scripts, the load test)
 * are not browsers carrying someone's cookie and pass. Server actions get the same check from Next.
 *
 * One rule, two callers: Next route handlers (fetch Request: crossSiteRefusal) and the production
 * web server's direct tRPC path (node:http headers: isCrossSite with nodeHeaderReader).
 */

/** Reads one request header by lower-case name (several values joined with ", "), or null. */
export type HeaderReader = (name: string) => string | null;

/** A HeaderReader over node:http's IncomingHttpHeaders (the same joining as the fetch Headers). */
export function nodeHeaderReader(headers: Record<string, string | string[] | undefined>): HeaderReader {
  return (name) => {
    const value = headers[name];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  };
}

/** True when a request with this method and these headers must be refused as cross-site. */
export function isCrossSite(method: string | undefined, header: HeaderReader): boolean {
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return false;
  const site = header("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return true;
  const origin = header("origin");
  if (origin) {
    const host = header("x-forwarded-host") ?? header("host") ?? "";
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return true;
    }
    if (!host || originHost.toLowerCase() !== host.split(",")[0]?.trim().toLowerCase()) return true;
  }
  return false;
}

/** The refusal's status and JSON body (both callers answer exactly this). */
export const CROSS_SITE_REFUSAL = {
  status: 403,
  body: { error: "cross-site request refused" },
  headers: { "Cache-Control": "no-store" },
} as const;

/** For route handlers: the 403 answer when the request is cross-site, else null. */
export function crossSiteRefusal(request: Request): Response | null {
  if (!isCrossSite(request.method, (name) => request.headers.get(name))) return null;
  return Response.json(CROSS_SITE_REFUSAL.body, {
    status: CROSS_SITE_REFUSAL.status,
    headers: CROSS_SITE_REFUSAL.headers,
  });
}
