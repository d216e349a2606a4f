import { can } from "@xray/auth/permissions";
import type { Metadata } from "next";
import Link from "next/link";
import { requireAction } from "@/server/guard";
import { pageId } from "@/server/page-id";
import { VersionView } from "./version-view";

export const metadata: Metadata = { title: "Model version" };

export default async function VersionPage({ params }: { params: Promise<{ id: string }> }) {
  const user = await requireAction("metrics.read");
  const id = await pageId(params, "id");
  return (
    <>
      <p className="crumbs">
        <Link href="/research">Research</Link> / version
      </p>
      <VersionView
        id={id}
        canPromote={can(user.role, "versions.promote")}
        canExport={can(user.role, "labels.export")}
      />
    </>
  );
}
