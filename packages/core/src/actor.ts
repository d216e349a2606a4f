import type { UserRole } from "@xray/db";

/** Who is calling a service: the session's user, or a system process (CLI, trainer). */
export interface Actor {
  id: string;
  role: UserRole;
}
