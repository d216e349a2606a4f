import { USER_ROLES, type UserRole } from "@xray/db";

/**
 * Every action a procedure or route can require. Add new actions here, grant them in PERMISSIONS,
 * and the role-matrix test (tests/integration/role-matrix.test.ts) holds the API to the table.
 */
export const ACTIONS = [
  "datasets.read",
  "datasets.manage",
  "datasets.settings",
  "images.read",
  "reads.write",
  "review.adjudicate",
  "metrics.read",
  "labels.export",
  "rounds.start",
  "versions.promote",
  "users.manage",
  "imports.run",
  "audit.read",
] as const;

export type Action = (typeof ACTIONS)[number];

/** Role -> allowed actions, as data. Least privilege: admins run the install, they do not label. */
export const PERMISSIONS: Readonly<Record<UserRole, readonly Action[]>> = {
  annotator: ["datasets.read", "images.read", "reads.write"],
  lead: [
    "datasets.read",
    "datasets.settings",
    "images.read",
    "reads.write",
    "review.adjudicate",
    "metrics.read",
    "labels.export",
  ],
  researcher: [
    "datasets.read",
    "images.read",
    "metrics.read",
    "labels.export",
    "rounds.start",
    "versions.promote",
  ],
  admin: [
    "datasets.read",
    "datasets.manage",
    "datasets.settings",
    "images.read",
    "users.manage",
    "imports.run",
    "audit.read",
  ],
};

const granted: ReadonlyMap<UserRole, ReadonlySet<Action>> = new Map(
  USER_ROLES.map((role) => [role, new Set(PERMISSIONS[role])]),
);

export function can(role: UserRole | null | undefined, action: Action): boolean {
  if (!role) return false;
  return granted.get(role)?.has(action) ?? false;
}

export function actionsOf(role: UserRole): readonly Action[] {
  return PERMISSIONS[role];
}

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}
