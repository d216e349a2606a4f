import Link from "next/link";
import type { ServerApi } from "@/server/trpc";

export interface PickedDataset {
  id: string;
  name: string;
  all: { id: string; name: string }[];
}

/** The dataset named by ?dataset=, else the first one; null when there is none. */
export async function pickDataset(api: ServerApi, wanted: string | undefined): Promise<PickedDataset | null> {
  const list = await api.datasets.list();
  const chosen = list.find((d) => d.id === wanted) ?? list[0];
  if (!chosen) return null;
  return { id: chosen.id, name: chosen.name, all: list.map((d) => ({ id: d.id, name: d.name })) };
}

/** Links to the same page for each dataset (only when there is more than one). */
export function DatasetPicker({ picked, basePath }: { picked: PickedDataset; basePath: string }) {
  if (picked.all.length < 2) return null;
  return (
    <nav className="tabs" aria-label="Dataset">
      {picked.all.map((d) => (
        <Link
          key={d.id}
          href={`${basePath}?dataset=${d.id}`}
          aria-current={d.id === picked.id ? "page" : undefined}
        >
          {d.name}
        </Link>
      ))}
    </nav>
  );
}
