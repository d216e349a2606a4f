import { can } from "@xray/auth/permissions";
import type { SessionUser } from "@xray/auth/session";
import Link from "next/link";
import { signOut } from "@/server/auth";
import { NAV_ITEMS } from "./nav-items";
import { NavLink } from "./nav-link";

export function Nav({ user }: { user: SessionUser }) {
  const visible = NAV_ITEMS.filter((item) => item.action === null || can(user.role, item.action));
  const main = visible.filter((i) => i.group === "main");
  const admin = visible.filter((i) => i.group === "admin");
  return (
    <header className="topbar">
      <Link href="/" className="brand">
        X-ray labels
      </Link>
      <nav aria-label="Main">
        {main.map((item) => (
          <NavLink key={item.href} href={item.href} label={item.label} />
        ))}
        {admin.length > 0 && <span className="nav-sep">Manage</span>}
        {admin.map((item) => (
          <NavLink key={item.href} href={item.href} label={item.label} />
        ))}
      </nav>
      <div className="whoami">
        <span data-testid="current-user">{user.name || user.email}</span>
        <span className={`role role-${user.role}`} data-testid="current-role">
          {user.role}
        </span>
        <form
          action={async () => {
            "use server";
            await signOut({ redirectTo: "/login" });
          }}
        >
          <button type="submit" className="link-button">
            Sign out
          </button>
        </form>
      </div>
    </header>
  );
}
