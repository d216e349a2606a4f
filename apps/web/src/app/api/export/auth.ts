import { type Action, can } from "@xray/auth/permissions";
import type { SessionUser } from "@xray/auth/session";
import { getSessionUser } from "@/server/auth";

export const plain = (status: number, body: string) =>
  new Response(body, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" },
  });

/** The signed-in user allowed `action`, or the 401/403 response to send instead. */
export async function exportUser(action: Action): Promise<SessionUser | Response> {
  const user = await getSessionUser();
  if (!user) return plain(401, "sign in first");
  if (!can(user.role, action)) return plain(403, `your role (${user.role}) may not ${action}`);
  return user;
}
