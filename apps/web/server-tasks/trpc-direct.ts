/**
 * The production web server's direct tRPC path (used by web-server.ts): `/api/trpc/<procedure>`
 * answered with tRPC's Node adapter instead of Next's route machinery. Same router, CSRF rule,
 * context function (src/server/api-context.ts) and security headers as the Next route
 * (src/app/api/trpc/[trpc]/route.ts, which `next dev` uses). Answers are not compressed: they are
 * small, and gzip was half of the tail latency (docs/benchmarks.md, "HTTP level").
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { nodeHTTPRequestHandler } from "@trpc/server/adapters/node-http";
import { appRouter } from "@xray/api";
import { CROSS_SITE_REFUSAL, isCrossSite, nodeHeaderReader } from "@xray/auth/csrf";
import { contentSecurityPolicy, newNonce, staticSecurityHeaders } from "../src/security-headers";
import { apiContextFromHeaders, logTrpcError, TRPC_ENDPOINT } from "../src/server/api-context";

const STATIC_HEADERS = staticSecurityHeaders();
const TRPC_PREFIX = `${TRPC_ENDPOINT}/`;

/**
 * The tRPC procedure path of a request this server answers itself, or null (then Next answers).
 * Only what the Next route `api/trpc/[trpc]` would match: GET or POST, one path segment after the
 * endpoint, and a path that URL parsing leaves as it is (dot segments and the like go to Next).
 */
export function directTrpcPath(method: string | undefined, url: string | undefined): string | null {
  if ((method !== "GET" && method !== "POST") || !url?.startsWith(TRPC_PREFIX)) return null;
  const q = url.indexOf("?");
  const raw = q === -1 ? url : url.slice(0, q);
  let pathname: string;
  try {
    pathname = new URL(raw, "http://localhost").pathname;
  } catch {
    return null;
  }
  if (pathname !== raw) return null;
  const procedure = pathname.slice(TRPC_PREFIX.length);
  return procedure.length > 0 && !procedure.includes("/") ? procedure : null;
}

/** The headers Next puts on API answers (next.config.ts headers + the proxy's per-request CSP). */
function setSecurityHeaders(res: ServerResponse): void {
  for (const { key, value } of STATIC_HEADERS) res.setHeader(key, value);
  res.setHeader("Content-Security-Policy", contentSecurityPolicy({ nonce: newNonce(), dev: false }));
}

export async function serveTrpc(req: IncomingMessage, res: ServerResponse, procedure: string): Promise<void> {
  const header = nodeHeaderReader(req.headers);
  setSecurityHeaders(res);
  if (isCrossSite(req.method, header)) {
    res.statusCode = CROSS_SITE_REFUSAL.status;
    for (const [key, value] of Object.entries(CROSS_SITE_REFUSAL.headers)) res.setHeader(key, value);
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify(CROSS_SITE_REFUSAL.body));
    return;
  }
  await nodeHTTPRequestHandler({
    req,
    res,
    path: procedure,
    router: appRouter,
    createContext: () => apiContextFromHeaders(header),
    onError: logTrpcError,
  });
}
