import type { Metadata } from "next";
import { requireAction } from "@/server/guard";
import { UsersAdmin } from "./users-admin";

export const metadata: Metadata = { title: "Users" };

export default async function UsersPage() {
  const me = await requireAction("users.manage");
  return (
    <>
      <h1>Users</h1>
      <UsersAdmin currentUserId={me.id} />
    </>
  );
}
