import { randomBytes } from "node:crypto";
import { type DbOrTx, users } from "@xray/db";
import { eq } from "drizzle-orm";
import type { Actor } from "../actor";
import { createUser, findUserByEmail, setUserDisabled } from "../users";

export const SYSTEM_EMAIL = "system@xray.local";

/**
 * The account that CLI runs and first-start seeding act as: an admin that cannot log in (disabled, with a
 * random password nobody knows), so imports and gold labels always name a user.
 */
export async function ensureSystemActor(db: DbOrTx): Promise<Actor> {
  const existing = await findUserByEmail(db, SYSTEM_EMAIL);
  if (existing) {
    if (!existing.disabledAt) await setUserDisabled(db, { userId: existing.id, disabled: true, actor: null });
    return { id: existing.id, role: existing.role };
  }
  try {
    const user = await createUser(db, {
      email: SYSTEM_EMAIL,
      name: "System (imports, seeding)",
      role: "admin",
      password: randomBytes(32).toString("base64url"),
      actor: null,
      skipPolicy: true,
    });
    await setUserDisabled(db, { userId: user.id, disabled: true, actor: null });
    return { id: user.id, role: user.role };
  } catch (err) {
    // Another process created it first.
    const [row] = await db
      .select({ id: users.id, role: users.role })
      .from(users)
      .where(eq(users.email, SYSTEM_EMAIL));
    if (row) return row;
    throw err;
  }
}
