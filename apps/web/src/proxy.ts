import { LOGIN_PATH } from "@xray/auth/config";
import { authEnv } from "@xray/auth/env";
import { sessionClaimsSchema } from "@xray/auth/session";
import { type NextRequest, NextResponse } from "next/server";
import { getToken } from "next-auth/jwt";

/**
 * A cheap redirect for signed-out visitors: only the JWT is checked here (no database). Pages, the
 * tRPC API and the image routes re-validate the session against the database themselves.
 */
export async function proxy(request: NextRequest) {
  const secret = authEnv().secret;
  // Behind a TLS-terminating reverse proxy the cookie is the __Secure- one although this hop is http.
  const token =
    (await getToken({ req: request, secret, secureCookie: true })) ??
    (await getToken({ req: request, secret, secureCookie: false }));
  if (sessionClaimsSchema.safeParse(token?.claims).success) return NextResponse.next();
  const url = new URL(LOGIN_PATH, request.nextUrl.origin);
  const from = request.nextUrl.pathname + request.nextUrl.search;
  if (from !== "/") url.searchParams.set("from", from);
  return NextResponse.redirect(url);
}

export const config = {
  // API routes answer 401 themselves; the login page and static files are public.
  matcher: ["/((?!api/|_next/|login|favicon\\.ico|robots\\.txt).*)"],
};
