import { can } from "@xray/auth/permissions";
import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { z } from "zod";
import { requireAction } from "@/server/guard";
import { VersionView } from "./version-view";

export const metadata: Metadata = { title: "Model version" };

export default async function VersionPage({ params }: { params: Promise<{ id: string }> }) {
  const user = await requireAction("metrics.read");
  const id = z
    .string()
    .uuid()
    .safeParse((await params).id);
  if (!id.success) notFound();
  return (
    <>
      <p className="crumbs">
        <Link href="/research">Research</Link> / version
      </p>
      <VersionView
        id={id.data}
        canPromote={can(user.role, "versions.promote")}
        canExport={can(user.role, "labels.export")}
      />
    </>
  );
}
