import type { Metadata } from "next";
import Link from "next/link";
import { z } from "zod";
import { FilterBar } from "@/components/filter-bar";
import { withApi } from "@/server/trpc";

export const metadata: Metadata = { title: "Images" };

const querySchema = z.object({
  dataset: z.string().uuid().optional().catch(undefined),
  split: z.enum(["train", "val", "test"]).optional().catch(undefined),
  labelled: z.enum(["yes", "no"]).optional().catch(undefined),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1).catch(1),
});

type Query = z.infer<typeof querySchema>;

function hrefFor(q: Query, page: number): string {
  const params = new URLSearchParams();
  if (q.dataset) params.set("dataset", q.dataset);
  if (q.split) params.set("split", q.split);
  if (q.labelled) params.set("labelled", q.labelled);
  if (page > 1) params.set("page", String(page));
  const s = params.toString();
  return s ? `/images?${s}` : "/images";
}

export default async function ImagesPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const q = querySchema.parse(await searchParams);
  const [datasets, result] = await withApi((api) =>
    Promise.all([
      api.datasets.list(),
      api.images.list({
        datasetId: q.dataset,
        split: q.split,
        labelled: q.labelled === undefined ? undefined : q.labelled === "yes",
        page: q.page,
        pageSize: 48,
      }),
    ]),
  );
  const names = new Map(datasets.map((d) => [d.id, d.name]));
  return (
    <>
      <div className="page-head">
        <h1>Images</h1>
        <p className="muted" data-testid="image-total">
          {result.total.toLocaleString("en")} image{result.total === 1 ? "" : "s"}
        </p>
      </div>
      <FilterBar
        className="filters"
        action="/images"
        filters={[
          {
            name: "dataset",
            label: "Dataset",
            value: q.dataset ?? "",
            options: [
              { value: "", label: "All datasets" },
              ...datasets.map((d) => ({ value: d.id, label: d.name })),
            ],
          },
          {
            name: "split",
            label: "Split",
            value: q.split ?? "",
            options: [
              { value: "", label: "Any split" },
              { value: "train", label: "train" },
              { value: "val", label: "val" },
              { value: "test", label: "test" },
            ],
          },
          {
            name: "labelled",
            label: "Labels",
            value: q.labelled ?? "",
            options: [
              { value: "", label: "Labelled or not" },
              { value: "yes", label: "Labelled" },
              { value: "no", label: "Unlabelled" },
            ],
          },
        ]}
      />
      {result.items.length === 0 ? (
        <p className="empty">No images match these filters.</p>
      ) : (
        <ul className="image-grid">
          {result.items.map((img) => (
            <li key={img.id}>
              <Link href={`/images/${img.id}`} className="thumb" data-testid="image-thumb">
                <img src={`/api/images/${img.id}/thumb`} alt={img.originalFilename} loading="lazy" />
                <span className="thumb-caption">
                  <span className="filename">{img.originalFilename}</span>
                  <span className="tags">
                    <span className={`tag split-${img.split}`}>{img.split}</span>
                    {img.labelled && <span className="tag labelled">labelled</span>}
                    {!q.dataset && <span className="tag">{names.get(img.datasetId)}</span>}
                  </span>
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      <nav className="pager" aria-label="Pages">
        {result.page > 1 ? <Link href={hrefFor(q, result.page - 1)}>← Previous</Link> : <span />}
        <span>
          Page {result.page} of {result.pageCount}
        </span>
        {result.page < result.pageCount ? <Link href={hrefFor(q, result.page + 1)}>Next →</Link> : <span />}
      </nav>
    </>
  );
}
