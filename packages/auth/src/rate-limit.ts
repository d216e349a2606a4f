import { auditEvents, type DbOrTx, loginAttempts } from "@xray/db";
import { and, count, eq, gt, max } from "drizzle-orm";
import { type AuthenticationResult, authenticate } from "./credentials";

/**
 * Login throttling, backed by the login_attempts table so it holds across processes and restarts.
 * Per account: a few failures since the account's last success within the window lock that e-mail.
 * Per address: more failures from one client address within the window lock that address (for all
 * e-mails), which stops one client spraying passwords over many accounts.
 */
export interface LoginLimits {
  windowMs: number;
  perAccount: number;
  perAddress: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  windowMs: 15 * 60 * 1000,
  perAccount: 5,
  perAddress: 20,
};

export type LoginBlock = { blocked: false } | { blocked: true; scope: "account" | "address" };

/** The e-mail as it is stored and throttled: trimmed, lower case, bounded. */
export function normalizeLoginEmail(input: unknown): string {
  const raw = input && typeof input === "object" && "email" in input ? input.email : "";
  return (typeof raw === "string" ? raw : "").trim().toLowerCase().slice(0, 320);
}

/** Where the client address comes from: see client-address.ts (never a header the client chose). */
export { clientAddress } from "./client-address";

export async function loginBlock(
  db: DbOrTx,
  email: string,
  address: string,
  limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  now: Date = new Date(),
): Promise<LoginBlock> {
  const since = new Date(now.getTime() - limits.windowMs);
  if (email) {
    const [lastOk] = await db
      .select({ at: max(loginAttempts.at) })
      .from(loginAttempts)
      .where(
        and(eq(loginAttempts.email, email), eq(loginAttempts.succeeded, 1), gt(loginAttempts.at, since)),
      );
    const from = lastOk?.at && lastOk.at > since ? lastOk.at : since;
    const [row] = await db
      .select({ n: count() })
      .from(loginAttempts)
      .where(and(eq(loginAttempts.email, email), eq(loginAttempts.succeeded, 0), gt(loginAttempts.at, from)));
    if ((row?.n ?? 0) >= limits.perAccount) return { blocked: true, scope: "account" };
  }
  if (address) {
    const [row] = await db
      .select({ n: count() })
      .from(loginAttempts)
      .where(
        and(eq(loginAttempts.address, address), eq(loginAttempts.succeeded, 0), gt(loginAttempts.at, since)),
      );
    if ((row?.n ?? 0) >= limits.perAddress) return { blocked: true, scope: "address" };
  }
  return { blocked: false };
}

export type LimitedAuthenticationResult =
  | AuthenticationResult
  | { ok: false; reason: "rate-limited"; scope: "account" | "address" };

/**
 * authenticate() behind the throttle: a blocked e-mail or address is refused before the password is
 * even checked (no scrypt work for an attacker). Every answer is recorded in login_attempts, and
 * every refusal in the audit log as "auth.login_failed" with the e-mail, address and reason (never
 * the password).
 */
export async function authenticateWithLimits(
  db: DbOrTx,
  input: unknown,
  opts: { address: string; limits?: LoginLimits; now?: Date },
): Promise<LimitedAuthenticationResult> {
  const email = normalizeLoginEmail(input);
  const address = opts.address.slice(0, 100);
  const block = await loginBlock(db, email, address, opts.limits, opts.now);
  if (block.blocked) {
    await db.insert(auditEvents).values({
      action: "auth.login_failed",
      resourceType: "account",
      resourceId: email,
      details: { reason: "rate-limited", scope: block.scope, address },
    });
    return { ok: false, reason: "rate-limited", scope: block.scope };
  }
  const result = await authenticate(db, input);
  await db.insert(loginAttempts).values({ email, address, succeeded: result.ok ? 1 : 0, at: opts.now });
  if (!result.ok) {
    await db.insert(auditEvents).values({
      action: "auth.login_failed",
      resourceType: "account",
      resourceId: email,
      details: { reason: result.reason, address },
    });
  }
  return result;
}
