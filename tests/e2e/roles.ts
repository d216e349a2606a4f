import path from "node:path";
import { fileURLToPath } from "node:url";
import type { UserRole } from "@xray/db";

/** The demo accounts the start script creates on first start (documented as demo-only). */
export const DEMO_ACCOUNTS: Record<UserRole, { email: string; password: string }> = {
  admin: { email: "admin@xray.local", password: "demo-admin-xray" },
  lead: { email: "lead@xray.local", password: "demo-lead-xray" },
  researcher: { email: "researcher@xray.local", password: "demo-researcher-xray" },
  annotator: { email: "annotator@xray.local", password: "demo-annotator-xray" },
};

export const ROLES: readonly UserRole[] = ["annotator", "lead", "researcher", "admin"];

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where each role's signed-in browser state is kept between the setup and the journeys. */
export function storageStateOf(role: UserRole): string {
  return path.resolve(here, "..", ".auth", `${role}.json`);
}
