import { can } from "@xray/auth/permissions";
import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { z } from "zod";
import { requireAction } from "@/server/guard";
import { RoundView } from "./round-view";

export const metadata: Metadata = { title: "Training round" };

export default async function RoundPage({ params }: { params: Promise<{ id: string }> }) {
  const user = await requireAction("metrics.read");
  const id = z
    .string()
    .uuid()
    .safeParse((await params).id);
  if (!id.success) notFound();
  return (
    <>
      <p className="crumbs">
        <Link href="/research">Research</Link> / round
      </p>
      <RoundView id={id.data} canCancel={can(user.role, "rounds.start")} />
    </>
  );
}
