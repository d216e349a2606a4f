import type { Metadata } from "next";
import Link from "next/link";
import { withApi } from "@/server/trpc";
import { ReadWorkspace } from "./workspace";
import "./workspace.css";

export const metadata: Metadata = { title: "Read" };

export default async function ReadPage({ searchParams }: { searchParams: Promise<{ dataset?: string }> }) {
  const { dataset: wanted } = await searchParams;
  const datasets = await withApi((api) => api.datasets.list());
  // By default the dataset with the most images still unlabelled.
  const dataset =
    datasets.find((d) => d.id === wanted) ??
    [...datasets].sort((a, b) => b.images - b.labelled - (a.images - a.labelled))[0];
  if (!dataset) return <p className="muted">No dataset to read yet.</p>;
  return (
    <>
      {datasets.length > 1 ? (
        <nav className="read-datasets" aria-label="Datasets">
          {datasets.map((d) => (
            <Link
              key={d.id}
              href={`/read?dataset=${d.id}`}
              aria-current={d.id === dataset.id ? "page" : undefined}
            >
              {d.name}
            </Link>
          ))}
        </nav>
      ) : null}
      <ReadWorkspace
        key={dataset.id}
        dataset={{
          id: dataset.id,
          name: dataset.name,
          readingMode: dataset.readingMode,
          labelSchema: dataset.labelSchema,
        }}
      />
    </>
  );
}
