/**
 * Cross-site request refusal for route handlers that change state (tRPC posts, uploads). Browsers
 * send Sec-Fetch-Site and Origin on every POST; a request that says it comes from another site, or
 * whose Origin is not this host, is refused. Clients that send neither (curl, scripts, the load test)
 * are not browsers carrying someone's cookie and pass. Server actions get the same check from Next.
 */
export function crossSiteRefusal(request: Request): Response | null {
  if (request.method === "GET" || request.method === "HEAD" || request.method === "OPTIONS") return null;
  const refuse = () =>
    Response.json(
      { error: "cross-site request refused" },
      { status: 403, headers: { "Cache-Control": "no-store" } },
    );
  const site = request.headers.get("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return refuse();
  const origin = request.headers.get("origin");
  if (origin) {
    const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host") ?? "";
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return refuse();
    }
    if (!host || originHost.toLowerCase() !== host.split(",")[0]?.trim().toLowerCase()) return refuse();
  }
  return null;
}
