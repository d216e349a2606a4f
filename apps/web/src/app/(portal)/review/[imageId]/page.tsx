import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { z } from "zod";
import { requireAction } from "@/server/guard";
import { ReviewItem } from "./review-item";

export const metadata: Metadata = { title: "Review image" };

export default async function ReviewItemPage({
  params,
  searchParams,
}: {
  params: Promise<{ imageId: string }>;
  searchParams: Promise<{ dataset?: string; kind?: string }>;
}) {
  await requireAction("review.adjudicate");
  const id = z
    .string()
    .uuid()
    .safeParse((await params).imageId);
  if (!id.success) notFound();
  const sp = await searchParams;
  const back = `/review?${new URLSearchParams({ ...(sp.dataset ? { dataset: sp.dataset } : {}), kind: sp.kind ?? "readers" })}`;
  return (
    <>
      <p className="crumbs">
        <Link href={back}>Review</Link> / image
      </p>
      <ReviewItem imageId={id.data} backHref={back} />
    </>
  );
}
