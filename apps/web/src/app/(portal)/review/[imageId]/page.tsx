import type { Metadata } from "next";
import Link from "next/link";
import { requireAction } from "@/server/guard";
import { pageId } from "@/server/page-id";
import { ReviewItem } from "./review-item";
// The viewer's styles (shared with the reading workspace).
import "../../read/workspace.css";

export const metadata: Metadata = { title: "Review image" };

export default async function ReviewItemPage({
  params,
  searchParams,
}: {
  params: Promise<{ imageId: string }>;
  searchParams: Promise<{ dataset?: string; kind?: string }>;
}) {
  await requireAction("review.adjudicate");
  const id = await pageId(params, "imageId");
  const sp = await searchParams;
  const back = `/review?${new URLSearchParams({ ...(sp.dataset ? { dataset: sp.dataset } : {}), kind: sp.kind ?? "readers" })}`;
  return (
    <>
      <p className="crumbs">
        <Link href={back}>Review</Link> / image
      </p>
      <ReviewItem imageId={id} backHref={back} />
    </>
  );
}
