import { baseAuthConfig, LOGIN_PATH } from "@xray/auth/config";
import { authEnv } from "@xray/auth/env";
import { NextResponse } from "next/server";
import NextAuth from "next-auth";

// Only the JWT is read here (no database): a cheap redirect for signed-out visitors. Pages, the tRPC
// API and the image routes re-validate the session against the database themselves.
const { auth } = NextAuth(() => baseAuthConfig(authEnv().secret));

export const proxy = auth((req) => {
  if (req.auth?.claims) return NextResponse.next();
  const url = new URL(LOGIN_PATH, req.nextUrl.origin);
  const from = req.nextUrl.pathname + req.nextUrl.search;
  if (from !== "/") url.searchParams.set("from", from);
  return NextResponse.redirect(url);
});

export const config = {
  // API routes answer 401 themselves; the login page and static files are public.
  matcher: ["/((?!api/|_next/|login|favicon\\.ico|robots\\.txt).*)"],
};
