import { CredentialsSignin } from "@auth/core/errors";
import type { DbOrTx } from "@xray/db";
import type { NextAuthConfig } from "next-auth";
import Credentials from "next-auth/providers/credentials";
import { authenticateWithLimits, clientAddress } from "./rate-limit";
import { loadSessionClaims, type SessionClaims, type SessionValidator, sessionClaimsSchema } from "./session";

declare module "next-auth" {
  interface Session {
    /** Present only when the token carried well-formed claims; re-validate before trusting the role. */
    claims?: SessionClaims;
  }
}

export const LOGIN_PATH = "/login";
/** Sessions last a working day; disabling a user ends them sooner (see SessionValidator). */
export const SESSION_MAX_AGE_S = 12 * 60 * 60;

/** Shown on the login page; the codes travel in URLs, so they say nothing more than this. */
export class InvalidCredentialsError extends CredentialsSignin {
  override code = "invalid-credentials";
}
export class AccountDisabledError extends CredentialsSignin {
  override code = "account-disabled";
}
export class RateLimitedError extends CredentialsSignin {
  override code = "rate-limited";
}

/**
 * The part of the configuration that needs no database: enough to read the JWT in proxy.ts.
 * trustHost: the portal is self-hosted behind whatever host name the operator gives it.
 */
export function baseAuthConfig(secret: string): NextAuthConfig {
  return {
    secret,
    trustHost: true,
    pages: { signIn: LOGIN_PATH, error: LOGIN_PATH },
    session: { strategy: "jwt", maxAge: SESSION_MAX_AGE_S },
    providers: [],
    logger: {
      // A refused sign-in is an answer, not a server error: one line, no stack, no e-mail.
      error(error) {
        if (error instanceof CredentialsSignin) console.warn(`[auth] sign-in refused: ${error.code}`);
        else console.error(`[auth] ${error.name}: ${error.message}`);
      },
    },
    callbacks: {
      session({ session, token }) {
        const claims = sessionClaimsSchema.safeParse(token.claims);
        return { ...session, claims: claims.success ? claims.data : undefined };
      },
    },
  };
}

export interface AuthConfigDeps {
  secret: string;
  getDb: () => DbOrTx;
  validator: SessionValidator;
}

/**
 * The full configuration: e-mail + password sign-in, and a JWT that is re-validated against the
 * database on every use (returning null ends the session and clears its cookie).
 */
export function createAuthConfig(deps: AuthConfigDeps): NextAuthConfig {
  const base = baseAuthConfig(deps.secret);
  return {
    ...base,
    providers: [
      Credentials({
        credentials: {
          email: { label: "E-mail", type: "email" },
          password: { label: "Password", type: "password" },
        },
        async authorize(input, request) {
          const result = await authenticateWithLimits(deps.getDb(), input, {
            address: clientAddress(request?.headers),
          });
          if (!result.ok) {
            if (result.reason === "rate-limited") throw new RateLimitedError();
            throw result.reason === "account-disabled"
              ? new AccountDisabledError()
              : new InvalidCredentialsError();
          }
          return { id: result.user.id, email: result.user.email, name: result.user.name };
        },
      }),
    ],
    callbacks: {
      ...base.callbacks,
      async jwt({ token, user }) {
        if (user?.id) {
          const claims = await loadSessionClaims(deps.getDb(), user.id);
          if (!claims) return null;
          return { ...token, claims };
        }
        const current = await deps.validator.validate(token.claims);
        if (!current) return null;
        return { ...token, name: current.name, email: current.email };
      },
    },
  };
}
