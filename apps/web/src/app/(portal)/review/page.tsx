import type { Metadata } from "next";
import Link from "next/link";
import { requireAction } from "@/server/guard";
import { withApi } from "@/server/trpc";
import { DatasetPicker, pickDataset } from "../research/_shared/dataset-picker";
import { ReviewQueue } from "./review-queue";

export const metadata: Metadata = { title: "Review" };

export default async function ReviewPage({
  searchParams,
}: {
  searchParams: Promise<{ dataset?: string; kind?: string }>;
}) {
  await requireAction("review.adjudicate");
  const sp = await searchParams;
  const picked = await withApi((api) => pickDataset(api, sp.dataset));
  if (!picked) return <p className="empty">No datasets yet.</p>;
  const kind = sp.kind === "model" || sp.kind === "flagged" ? sp.kind : "readers";
  return (
    <>
      <div className="page-head">
        <h1>Review — {picked.name}</h1>
        <Link href={`/review/agreement?dataset=${picked.id}`}>Agreement statistics</Link>
      </div>
      <DatasetPicker picked={picked} basePath="/review" />
      <ReviewQueue datasetId={picked.id} kind={kind} />
    </>
  );
}
