import { type DbOrTx, USER_ROLES, type UserRole, users } from "@xray/db";
import { eq } from "drizzle-orm";
import { z } from "zod";

/** What the JWT carries about the user; everything else is looked up. */
export const sessionClaimsSchema = z.object({
  userId: z.string().uuid(),
  role: z.enum(USER_ROLES),
  sessionVersion: z.number().int().min(0),
});
export type SessionClaims = z.infer<typeof sessionClaimsSchema>;

/** The signed-in user as procedures and pages see it, re-validated against the database. */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
  role: UserRole;
  sessionVersion: number;
}

export interface SessionValidator {
  /** The current user for these claims, or null when the user is gone, disabled or re-versioned. */
  validate(claims: unknown): Promise<SessionUser | null>;
  /** Drops cached answers for a user (call after disabling them or changing their role). */
  forget(userId: string): void;
}

export interface SessionValidatorOptions {
  /** How long an answer may be reused; a disabled user's session survives at most this long. */
  ttlMs?: number;
  now?: () => number;
}

/**
 * Re-validates session claims on every request: the user exists, is not disabled and still has the
 * session version the token was issued with (disable, role change and password change bump it).
 * Answers are cached for a few seconds so a page's many requests cost one query.
 */
export function createSessionValidator(
  getDb: () => DbOrTx,
  opts: SessionValidatorOptions = {},
): SessionValidator {
  const ttlMs = opts.ttlMs ?? 3000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; user: SessionUser | null }>();
  return {
    async validate(input) {
      const parsed = sessionClaimsSchema.safeParse(input);
      if (!parsed.success) return null;
      const claims = parsed.data;
      const key = `${claims.userId}:${claims.sessionVersion}:${claims.role}`;
      const hit = cache.get(key);
      if (hit && now() - hit.at < ttlMs) return hit.user;
      const [row] = await getDb()
        .select({
          id: users.id,
          email: users.email,
          name: users.name,
          role: users.role,
          sessionVersion: users.sessionVersion,
          disabledAt: users.disabledAt,
        })
        .from(users)
        .where(eq(users.id, claims.userId));
      const user =
        row && !row.disabledAt && row.sessionVersion === claims.sessionVersion && row.role === claims.role
          ? {
              id: row.id,
              email: row.email,
              name: row.name,
              role: row.role,
              sessionVersion: row.sessionVersion,
            }
          : null;
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { at: now(), user });
      return user;
    },
    forget(userId) {
      for (const key of cache.keys()) if (key.startsWith(`${userId}:`)) cache.delete(key);
    },
  };
}

/** Fresh claims for a user who just signed in (the JWT is issued from these). */
export async function loadSessionClaims(db: DbOrTx, userId: string): Promise<SessionClaims | null> {
  const [row] = await db
    .select({
      userId: users.id,
      role: users.role,
      sessionVersion: users.sessionVersion,
      disabledAt: users.disabledAt,
    })
    .from(users)
    .where(eq(users.id, userId));
  if (!row || row.disabledAt) return null;
  return { userId: row.userId, role: row.role, sessionVersion: row.sessionVersion };
}
