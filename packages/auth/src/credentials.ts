import { type DbOrTx, type UserRole, users } from "@xray/db";
import { eq, sql } from "drizzle-orm";
import { z } from "zod";
import { hashPassword, verifyPassword } from "./password";

export const credentialsSchema = z.object({
  email: z.string().trim().toLowerCase().min(3).max(320),
  password: z.string().min(1).max(256),
});

export interface AuthenticatedUser {
  id: string;
  email: string;
  name: string;
  role: UserRole;
  sessionVersion: number;
}

export type AuthenticationResult =
  | { ok: true; user: AuthenticatedUser }
  | { ok: false; reason: "invalid-credentials" | "account-disabled" };

// Verified against when the e-mail is unknown, so a miss costs the same time as a wrong password.
let dummyHash: Promise<string> | null = null;

/**
 * Checks an e-mail and password. A disabled account is only reported as disabled when the password
 * is right, so the answer never tells a stranger which accounts exist.
 */
export async function authenticate(db: DbOrTx, input: unknown): Promise<AuthenticationResult> {
  const parsed = credentialsSchema.safeParse(input);
  if (!parsed.success) return { ok: false, reason: "invalid-credentials" };
  const { email, password } = parsed.data;
  const [row] = await db
    .select({
      id: users.id,
      email: users.email,
      name: users.name,
      role: users.role,
      sessionVersion: users.sessionVersion,
      passwordHash: users.passwordHash,
      disabledAt: users.disabledAt,
    })
    .from(users)
    .where(eq(sql`lower(${users.email})`, email));
  if (!row) {
    dummyHash ??= hashPassword("no such user, constant-time filler");
    await verifyPassword(password, await dummyHash);
    return { ok: false, reason: "invalid-credentials" };
  }
  if (!(await verifyPassword(password, row.passwordHash)))
    return { ok: false, reason: "invalid-credentials" };
  if (row.disabledAt) return { ok: false, reason: "account-disabled" };
  return {
    ok: true,
    user: {
      id: row.id,
      email: row.email,
      name: row.name,
      role: row.role,
      sessionVersion: row.sessionVersion,
    },
  };
}
