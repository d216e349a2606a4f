import { LOGIN_PATH } from "@xray/auth/config";
import { authEnv } from "@xray/auth/env";
import { sessionClaimsSchema } from "@xray/auth/session";
import { type NextRequest, NextResponse } from "next/server";
import { getToken } from "next-auth/jwt";
import { contentSecurityPolicy, newNonce } from "./security-headers";

/** Paths anyone may request: the API routes answer 401 themselves, the login page is public. */
const PUBLIC = /^\/(api\/|login(\/|$)|favicon\.ico$|robots\.txt$)/;

/**
 * Runs before every request except files under /_next/:
 * 1. a fresh CSP nonce: the Content-Security-Policy goes on the request (Next reads the nonce from it
 *    and puts it on every script it renders; pages render per request, see app/layout.tsx) and on
 *    the response;
 * 2. a cheap redirect for signed-out visitors of portal pages: only the JWT is checked here (no
 *    database). Pages, the tRPC API and the image routes re-validate the session themselves.
 */
export async function proxy(request: NextRequest) {
  const csp = contentSecurityPolicy({ nonce: newNonce(), dev: process.env.NODE_ENV === "development" });
  const { pathname } = request.nextUrl;
  if (!PUBLIC.test(pathname) && !(await hasSessionToken(request))) {
    const url = new URL(LOGIN_PATH, request.nextUrl.origin);
    const from = pathname + request.nextUrl.search;
    if (from !== "/") url.searchParams.set("from", from);
    const redirect = NextResponse.redirect(url);
    redirect.headers.set("Content-Security-Policy", csp);
    return redirect;
  }
  const headers = new Headers(request.headers);
  headers.set("Content-Security-Policy", csp);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("Content-Security-Policy", csp);
  return response;
}

async function hasSessionToken(request: NextRequest): Promise<boolean> {
  const secret = authEnv().secret;
  // Behind a TLS-terminating reverse proxy the cookie is the __Secure- one although this hop is http.
  const token =
    (await getToken({ req: request, secret, secureCookie: true })) ??
    (await getToken({ req: request, secret, secureCookie: false }));
  return sessionClaimsSchema.safeParse(token?.claims).success;
}

export const config = {
  // Everything but Next's own files (next.config.ts gives those a nonce-less policy).
  matcher: ["/((?!_next/).*)"],
};
