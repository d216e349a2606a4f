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
 * XRAY_WEB_PROCESSES=N (default 1) runs N such servers on the one port with node:cluster (one per
 * core is the useful most). They share nothing in memory that matters: sessions are cookies
 * re-validated against the database, the login throttle is the login_attempts table. The one
 * per-process thing is the session validator's 3 s cache: a user disabled through one process is
 * refused by the others within those 3 s.
 *
 * Env: PORT (3000), HOSTNAME (0.0.0.0), XRAY_TRUSTED_PROXIES, XRAY_WEB_PROCESSES, and the portal's
 * own variables.
 * Run: `node --import tsx apps/web/server-tasks/web-server.ts` after `pnpm build`.
 */
import cluster from "node:cluster";
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
    XRAY_WEB_PROCESSES: z.coerce.number().int().min(1).max(16).default(1),
  })
  .parse({
    PORT: process.env.PORT || undefined,
    HOSTNAME: process.env.HOSTNAME || undefined,
    XRAY_TRPC_VIA_NEXT: process.env.XRAY_TRPC_VIA_NEXT || undefined,
    XRAY_WEB_PROCESSES: process.env.XRAY_WEB_PROCESSES || undefined,
  });
const tag = cluster.isWorker ? `[web ${cluster.worker?.id ?? "?"}]` : "[web]";

async function main(): Promise<void> {
  const trusted = trustedProxiesFromEnv();
  const app = next({ dir: webDir, dev: false, hostname: env.HOSTNAME, port: env.PORT });
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = createServer((req, res) => {
    pinForwardedFor(req, trusted);
    const procedure = env.XRAY_TRPC_VIA_NEXT === "1" ? null : directTrpcPath(req.method, req.url);
    (procedure === null ? handle(req, res) : serveTrpc(req, res, procedure)).catch((err: unknown) => {
      console.error(`${tag} ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(env.PORT, env.HOSTNAME, resolve);
  });
  const proxies = trusted.entries.length > 0 ? trusted.entries.join(", ") : "none";
  console.log(`${tag} listening on http://${env.HOSTNAME}:${env.PORT} (trusted proxies: ${proxies})`);

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

/**
 * The cluster primary: starts the web processes, replaces one that dies (unless it died within
 * 30 s of its start: then the server cannot run and the primary exits with an error, which stops
 * `pnpm start`), and passes SIGTERM / SIGINT on.
 */
function primary(processes: number): void {
  let stopping = false;
  const started = new Map<number, number>();
  const fork = () => {
    const worker = cluster.fork();
    started.set(worker.id, Date.now());
  };
  for (let i = 0; i < processes; i++) fork();
  console.log(`[web] ${processes} web processes`);
  cluster.on("exit", (worker, code, signal) => {
    const age = Date.now() - (started.get(worker.id) ?? 0);
    started.delete(worker.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    console.error(`[web] web process ${worker.id} exited (${signal ?? code})`);
    if (age < 30_000) process.exit(1);
    fork();
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
    setTimeout(() => process.exit(0), 7000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (cluster.isPrimary && env.XRAY_WEB_PROCESSES > 1) {
  primary(env.XRAY_WEB_PROCESSES);
} else {
  main().catch((err: unknown) => {
    console.error(`${tag} ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
