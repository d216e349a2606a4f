/**
 * The tRPC context, built in one place for every way a request reaches the API:
 * - the production web server's direct path (server-tasks/web-server.ts: node:http headers),
 * - the Next route handler app/api/trpc/[trpc]/route.ts (`next dev`; fetch Request headers),
 * - server components (createTRPCContext in ./trpc.ts, user from next-auth's auth()).
 *
 * No Next import here: the web server loads this file under tsx, outside Next's bundles. Both share
 * the platform (pool, session cache) and the job queue through globalThis (see ./platform, ./jobs).
 */
import type { Context } from "@xray/api";
import type { HeaderReader } from "@xray/auth/csrf";
import { authEnv } from "@xray/auth/env";
import type { SessionUser } from "@xray/auth/session";
import { createSessionCookieReader, type SessionCookieReader } from "@xray/auth/session-cookie";
import { webJobQueue } from "./jobs";
import { getPlatform } from "./platform";

/** The context for a user who has already been re-validated against the database (or null). */
export function apiContextFor(user: SessionUser | null): Context {
  const platform = getPlatform();
  return {
    user,
    db: platform.db,
    storage: platform.storage,
    sessions: platform.sessions,
    jobs: webJobQueue,
  };
}

const READER = Symbol.for("xray.web.session-cookie-reader");

function isReader(value: unknown): value is SessionCookieReader {
  return typeof value === "object" && value !== null && "read" in value && typeof value.read === "function";
}

/** One reader (and its cache of decoded tokens) per process, shared like the platform. */
function sessionCookieReader(): SessionCookieReader {
  const existing: unknown = Reflect.get(globalThis, READER);
  if (isReader(existing)) return existing;
  const reader = createSessionCookieReader({ secret: authEnv().secret });
  Reflect.set(globalThis, READER, reader);
  return reader;
}

/**
 * The signed-in user of a request: the session cookie decoded with next-auth's own decoder, then
 * its claims re-validated against the database (SessionValidator: user exists, not disabled, same
 * role and session version; answers cached 3 s), exactly as next-auth's auth() + getSessionUser().
 */
export async function sessionUserFromHeaders(header: HeaderReader): Promise<SessionUser | null> {
  const token = await sessionCookieReader().read(header);
  if (!token?.claims) return null;
  return await getPlatform().sessions.validate(token.claims);
}

/** The tRPC context of an HTTP request, from its headers (cookie, X-Forwarded-Proto). */
export async function apiContextFromHeaders(header: HeaderReader): Promise<Context> {
  return apiContextFor(await sessionUserFromHeaders(header));
}

/** Logged for server errors only (a refused or invalid call is an answer, not an error). */
export function logTrpcError(opts: { error: { code: string; message: string }; path?: string }): void {
  if (opts.error.code === "INTERNAL_SERVER_ERROR")
    console.error(`[trpc] ${opts.path ?? "?"}: ${opts.error.message}`);
}

/** Where the API is mounted (both paths). */
export const TRPC_ENDPOINT = "/api/trpc";
