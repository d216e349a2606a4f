import { createAuthConfig } from "@xray/auth/config";
import { authEnv } from "@xray/auth/env";
import type { SessionUser } from "@xray/auth/session";
import NextAuth from "next-auth";
import { getPlatform } from "./platform";

// Lazy configuration: the secret and the database are read on the first request, not at build time.
export const { handlers, auth, signIn, signOut } = NextAuth(() => {
  const platform = getPlatform();
  return createAuthConfig({
    secret: authEnv().secret,
    getDb: () => platform.db,
    validator: platform.sessions,
  });
});

/** The signed-in user, re-validated against the database (disabled users get null), or null. */
export async function getSessionUser(): Promise<SessionUser | null> {
  const session = await auth();
  if (!session?.claims) return null;
  return await getPlatform().sessions.validate(session.claims);
}
