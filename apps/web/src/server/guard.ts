import { type Action, can } from "@xray/auth/permissions";
import type { SessionUser } from "@xray/auth/session";
import { forbidden, redirect } from "next/navigation";
import { getSessionUser } from "./auth";

/** For pages: the signed-in user when their role may do `action`; the login page or a 403 otherwise. */
export async function requireAction(action: Action): Promise<SessionUser> {
  const user = await getSessionUser();
  if (!user) redirect("/login");
  if (!can(user.role, action)) forbidden();
  return user;
}
