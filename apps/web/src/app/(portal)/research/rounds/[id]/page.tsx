import { can } from "@xray/auth/permissions";
import type { Metadata } from "next";
import Link from "next/link";
import { requireAction } from "@/server/guard";
import { pageId } from "@/server/page-id";
import { RoundView } from "./round-view";

export const metadata: Metadata = { title: "Training round" };

export default async function RoundPage({ params }: { params: Promise<{ id: string }> }) {
  const user = await requireAction("metrics.read");
  const id = await pageId(params, "id");
  return (
    <>
      <p className="crumbs">
        <Link href="/research">Research</Link> / round
      </p>
      <RoundView id={id} canCancel={can(user.role, "rounds.start")} />
    </>
  );
}
