import type { Action } from "@xray/auth/permissions";

export interface NavItem {
  href: string;
  label: string;
  /** Shown only to roles that may do this; null for everyone signed in. */
  action: Action | null;
  group: "main" | "admin";
}

/** The top navigation as data: new workspaces (reading, review, rounds) add a row here. */
export const NAV_ITEMS: NavItem[] = [
  { href: "/", label: "Home", action: null, group: "main" },
  { href: "/read", label: "Read", action: "reads.write", group: "main" },
  { href: "/my-reads", label: "My reads", action: "reads.write", group: "main" },
  { href: "/images", label: "Images", action: "images.read", group: "main" },
  { href: "/review", label: "Review", action: "review.adjudicate", group: "main" },
  { href: "/research", label: "Research", action: "metrics.read", group: "main" },
  { href: "/admin/users", label: "Users", action: "users.manage", group: "admin" },
  { href: "/admin/datasets", label: "Datasets", action: "datasets.settings", group: "admin" },
  { href: "/admin/imports", label: "Imports", action: "imports.run", group: "admin" },
  { href: "/admin/audit", label: "Audit log", action: "audit.read", group: "admin" },
];
