/**
 * The portal's production web server (what `pnpm start` runs instead of `next start`): Next's
 * request handler behind a plain Node http server that pins X-Forwarded-For to the socket before
 * Next sees a request. Next itself fills X-Forwarded-For from the socket only when a client sent
 * none, so under `next start` a client could pick the address the login throttle counts. Here the
 * header is whatever the socket says, plus what a trusted proxy (XRAY_TRUSTED_PROXIES) forwarded.
 *
 * The tRPC API (`/api/trpc/<procedure>`, GET and POST) is answered here directly with tRPC's Node
 * adapter, not through Next's route machinery (streams, tracing, per-request next-auth session
 * round trip, gzip): same router, same CSRF rule, same context function (src/server/api-context.ts)
 * and the same security headers as the Next route (app/api/trpc/[trpc]/route.ts, which `next dev`
 * still uses; XRAY_TRPC_VIA_NEXT=1 sends the API there in production too, for comparisons). tRPC
 * answers are small and are not compressed. Everything else goes to Next.
 *
 * Env: PORT (3000), HOSTNAME (0.0.0.0), XRAY_TRUSTED_PROXIES, and the portal's own variables.
 * Run: `node --import tsx apps/web/server-tasks/web-server.ts` after `pnpm build`.
 */
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pinForwardedFor, trustedProxiesFromEnv } from "@xray/auth/client-address";
import next from "next";
import { z } from "zod";
import { directTrpcPath, serveTrpc } from "./trpc-direct";

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = z
  .object({
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    HOSTNAME: z.string().min(1).default("0.0.0.0"),
    XRAY_TRPC_VIA_NEXT: z.enum(["0", "1"]).default("0"),
  })
  .parse({
    PORT: process.env.PORT || undefined,
    HOSTNAME: process.env.HOSTNAME || undefined,
    XRAY_TRPC_VIA_NEXT: process.env.XRAY_TRPC_VIA_NEXT || undefined,
  });

async function main(): Promise<void> {
  const trusted = trustedProxiesFromEnv();
  const app = next({ dir: webDir, dev: false, hostname: env.HOSTNAME, port: env.PORT });
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = createServer((req, res) => {
    pinForwardedFor(req, trusted);
    const procedure = env.XRAY_TRPC_VIA_NEXT === "1" ? null : directTrpcPath(req.method, req.url);
    (procedure === null ? handle(req, res) : serveTrpc(req, res, procedure)).catch((err: unknown) => {
      console.error(`[web] ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(env.PORT, env.HOSTNAME, resolve);
  });
  const proxies = trusted.entries.length > 0 ? trusted.entries.join(", ") : "none";
  console.log(`[web] listening on http://${env.HOSTNAME}:${env.PORT} (trusted proxies: ${proxies})`);

  let closing = false;
  const close = () => {
    if (closing) return;
    closing = true;
    server.close();
    server.closeIdleConnections();
    void app.close().finally(() => process.exit(0));
    // Open keep-alive or streaming connections must not hold the shutdown forever.
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on("SIGTERM", close);
  process.on("SIGINT", close);
}

main().catch((err: unknown) => {
  console.error(`[web] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
