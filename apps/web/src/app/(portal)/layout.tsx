import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { Nav } from "@/components/nav";
import { getSessionUser } from "@/server/auth";
import { TRPCReactProvider } from "@/trpc/client";

// Every page below needs a live session: the proxy only checks that a token exists.
export default async function PortalLayout({ children }: { children: ReactNode }) {
  const user = await getSessionUser();
  if (!user) redirect("/login");
  return (
    <TRPCReactProvider>
      <Nav user={user} />
      <main className="content">{children}</main>
    </TRPCReactProvider>
  );
}
