import { type FolderDataset, loadImageFolder } from "./folder.js";
import { type ImageSet, subsetImages } from "./image-set.js";

export interface KneeRow {
  path: string;
  split: string;
  kl_grade: number;
  oa_kl_ge2: number;
  patient_id: string;
  side: string;
}

/** The knee-oa-128 layout: labels.csv with path, split, kl_grade, oa_kl_ge2, patient_id, side. */
export async function loadKneeDataset(opts: {
  root: string;
  size: number;
  cacheDir?: string;
}): Promise<{ rows: KneeRow[]; images: ImageSet; folder: FolderDataset }> {
  const folder = await loadImageFolder({
    root: opts.root,
    size: opts.size,
    ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
  });
  const rows = folder.rows.map((r) => ({
    path: r.path ?? "",
    split: r.split ?? "",
    kl_grade: Number(r.kl_grade),
    oa_kl_ge2: Number(r.oa_kl_ge2),
    patient_id: r.patient_id ?? "",
    side: r.side ?? "",
  }));
  return { rows, images: folder.images, folder };
}

/** One split of a loaded knee dataset: its images and rows, in dataset order. */
export function kneeSplit(
  knee: { rows: KneeRow[]; images: ImageSet },
  split: string,
): { images: ImageSet; rows: KneeRow[] } {
  const idx = knee.rows.flatMap((r, i) => (r.split === split ? [i] : []));
  return { images: subsetImages(knee.images, idx), rows: idx.map((i) => knee.rows[i] as KneeRow) };
}
