import { checkPasswordPolicy, hashPassword } from "@xray/auth/password";
import { type DbOrTx, type UserRole, users } from "@xray/db";
import { asc, eq, sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { notFound, ServiceError } from "./errors";

export interface PublicUser {
  id: string;
  email: string;
  name: string;
  role: UserRole;
  disabled: boolean;
  createdAt: Date;
}

const publicColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  disabledAt: users.disabledAt,
  createdAt: users.createdAt,
};

function toPublic(row: {
  id: string;
  email: string;
  name: string;
  role: UserRole;
  disabledAt: Date | null;
  createdAt: Date;
}): PublicUser {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    disabled: row.disabledAt !== null,
    createdAt: row.createdAt,
  };
}

export interface CreateUserOptions {
  email: string;
  name?: string;
  role: UserRole;
  password: string;
  /** The admin creating the user; null for the CLI and first-start seeding. */
  actor: Actor | null;
  /** Demo accounts may skip the policy; everything else is checked. */
  skipPolicy?: boolean;
}

export async function createUser(db: DbOrTx, opts: CreateUserOptions): Promise<PublicUser> {
  const email = opts.email.trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+$/.test(email))
    throw new ServiceError("BAD_REQUEST", `not an e-mail address: ${opts.email}`);
  if (!opts.skipPolicy) {
    const policy = checkPasswordPolicy(opts.password, email);
    if (!policy.ok) throw new ServiceError("BAD_REQUEST", `password needs ${policy.problems.join("; ")}`);
  }
  const passwordHash = await hashPassword(opts.password);
  const [row] = await db
    .insert(users)
    .values({ email, name: opts.name ?? "", role: opts.role, passwordHash })
    .onConflictDoNothing()
    .returning(publicColumns);
  if (!row) throw new ServiceError("CONFLICT", `a user with e-mail ${email} already exists`);
  await recordAudit(db, {
    actorId: opts.actor?.id ?? null,
    action: "user.create",
    resourceType: "user",
    resourceId: row.id,
    details: { email, role: opts.role },
  });
  return toPublic(row);
}

export async function listUsers(db: DbOrTx): Promise<PublicUser[]> {
  const rows = await db.select(publicColumns).from(users).orderBy(asc(users.email));
  return rows.map(toPublic);
}

export async function findUserByEmail(db: DbOrTx, email: string) {
  const [row] = await db
    .select()
    .from(users)
    .where(eq(sql`lower(${users.email})`, email.trim().toLowerCase()));
  return row ?? null;
}

/** Disabling bumps the session version, so the user's live sessions fail on their next request. */
export async function setUserDisabled(
  db: DbOrTx,
  opts: { userId: string; disabled: boolean; actor: Actor | null },
): Promise<PublicUser> {
  const [row] = await db
    .update(users)
    .set({
      disabledAt: opts.disabled ? sql`now()` : null,
      sessionVersion: sql`${users.sessionVersion} + 1`,
      updatedAt: sql`now()`,
    })
    .where(eq(users.id, opts.userId))
    .returning(publicColumns);
  if (!row) throw notFound("user");
  await recordAudit(db, {
    actorId: opts.actor?.id ?? null,
    action: opts.disabled ? "user.disable" : "user.enable",
    resourceType: "user",
    resourceId: row.id,
  });
  return toPublic(row);
}

export async function setUserRole(
  db: DbOrTx,
  opts: { userId: string; role: UserRole; actor: Actor | null },
): Promise<PublicUser> {
  const [row] = await db
    .update(users)
    .set({ role: opts.role, sessionVersion: sql`${users.sessionVersion} + 1`, updatedAt: sql`now()` })
    .where(eq(users.id, opts.userId))
    .returning(publicColumns);
  if (!row) throw notFound("user");
  await recordAudit(db, {
    actorId: opts.actor?.id ?? null,
    action: "user.role",
    resourceType: "user",
    resourceId: row.id,
    details: { role: opts.role },
  });
  return toPublic(row);
}
