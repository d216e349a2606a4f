import { can } from "@xray/auth/permissions";
import type { Metadata } from "next";
import { requireAction } from "@/server/guard";
import { withApi } from "@/server/trpc";
import { DatasetPicker, pickDataset } from "./_shared/dataset-picker";
import { ResearchConsole } from "./research-console";

export const metadata: Metadata = { title: "Research" };

export default async function ResearchPage({
  searchParams,
}: {
  searchParams: Promise<{ dataset?: string }>;
}) {
  const user = await requireAction("metrics.read");
  const sp = await searchParams;
  const picked = await withApi((api) => pickDataset(api, sp.dataset));
  if (!picked) return <p className="empty">No datasets yet.</p>;
  return (
    <>
      <div className="page-head">
        <h1>Research — {picked.name}</h1>
        {can(user.role, "labels.export") && (
          <a href={`/api/export/labels/${picked.id}`} download>
            Export labels (CSV)
          </a>
        )}
      </div>
      <DatasetPicker picked={picked} basePath="/research" />
      <ResearchConsole
        datasetId={picked.id}
        canStart={can(user.role, "rounds.start")}
        canPromote={can(user.role, "versions.promote")}
      />
    </>
  );
}
