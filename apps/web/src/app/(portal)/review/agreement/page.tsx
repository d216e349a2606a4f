import type { Metadata } from "next";
import Link from "next/link";
import { requireAction } from "@/server/guard";
import { withApi } from "@/server/trpc";
import { DatasetPicker, pickDataset } from "../../research/_shared/dataset-picker";
import { AgreementView } from "./agreement-view";

export const metadata: Metadata = { title: "Agreement" };

export default async function AgreementPage({
  searchParams,
}: {
  searchParams: Promise<{ dataset?: string }>;
}) {
  await requireAction("metrics.read");
  const sp = await searchParams;
  const picked = await withApi((api) => pickDataset(api, sp.dataset));
  if (!picked) return <p className="empty">No datasets yet.</p>;
  return (
    <>
      <p className="crumbs">
        <Link href={`/review?dataset=${picked.id}`}>Review</Link> / agreement
      </p>
      <h1>Agreement — {picked.name}</h1>
      <DatasetPicker picked={picked} basePath="/review/agreement" />
      <AgreementView datasetId={picked.id} />
    </>
  );
}
