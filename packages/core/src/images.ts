/**
 * Browsing images: paged lists with filters, one image's metadata, and the stored file behind a
 * variant. Scoping lives in the WHERE clause (imageScope): a row the actor may not see is simply not
 * found, never "forbidden", so ids of other datasets' images leak nothing.
 */
import { can } from "@xray/auth/permissions";
import {
  type DbOrTx,
  datasets,
  goldLabels,
  type ImageProvenance,
  type ImageSplit,
  images,
  type LabelSchema,
  reads,
} from "@xray/db";
import { and, asc, desc, eq, type SQL, sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { notFound } from "./errors";

/**
 * Which images the actor may see. Today every role with images.read sees every dataset; per-dataset
 * membership would be added here, and every query below follows.
 */
export function imageScope(actor: Actor): SQL {
  return can(actor.role, "images.read") ? sql`true` : sql`false`;
}

/** An image counts as labelled once it has a submitted read (not a skip) or a current gold label. */
const hasRead = sql<boolean>`exists (select 1 from ${reads} where ${reads.imageId} = ${images.id} and ${reads.kind} = 'read')`;
const hasGold = sql<boolean>`exists (select 1 from ${goldLabels} where ${goldLabels.imageId} = ${images.id} and ${goldLabels.supersededAt} is null)`;

/** The columns of an image summary, shared by the list and the detail query. */
const summaryColumns = {
  id: images.id,
  datasetId: images.datasetId,
  originalFilename: images.originalFilename,
  sourceFormat: images.sourceFormat,
  width: images.width,
  height: images.height,
  split: images.split,
  species: images.species,
  bodyPart: images.bodyPart,
  view: images.view,
  labelled: sql<boolean>`(${hasRead} or ${hasGold})`,
  createdAt: images.createdAt,
};

export interface ImageListOptions {
  actor: Actor;
  datasetId?: string;
  split?: ImageSplit;
  labelled?: boolean;
  /** 1-based page number. */
  page?: number;
  pageSize?: number;
}

export interface ImageSummary {
  id: string;
  datasetId: string;
  originalFilename: string;
  sourceFormat: string;
  width: number;
  height: number;
  split: ImageSplit;
  species: string | null;
  bodyPart: string | null;
  view: string | null;
  labelled: boolean;
  createdAt: Date;
}

export interface ImagePage {
  items: ImageSummary[];
  total: number;
  page: number;
  pageSize: number;
  pageCount: number;
}

export const MAX_PAGE_SIZE = 200;

export async function listImages(db: DbOrTx, opts: ImageListOptions): Promise<ImagePage> {
  const pageSize = Math.min(Math.max(opts.pageSize ?? 48, 1), MAX_PAGE_SIZE);
  const page = Math.max(opts.page ?? 1, 1);
  const conditions: SQL[] = [imageScope(opts.actor)];
  if (opts.datasetId) conditions.push(eq(images.datasetId, opts.datasetId));
  if (opts.split) conditions.push(eq(images.split, opts.split));
  if (opts.labelled !== undefined) {
    const labelled = sql`(${hasRead} or ${hasGold})`;
    conditions.push(opts.labelled ? labelled : sql`not ${labelled}`);
  }
  const where = and(...conditions);
  const [countRow] = await db.select({ n: sql<number>`count(*)::int` }).from(images).where(where);
  const total = countRow?.n ?? 0;
  const rows = await db
    .select(summaryColumns)
    .from(images)
    .where(where)
    .orderBy(desc(images.createdAt), asc(images.id))
    .limit(pageSize)
    .offset((page - 1) * pageSize);
  return { items: rows, total, page, pageSize, pageCount: Math.max(1, Math.ceil(total / pageSize)) };
}

export interface ImageDetail extends ImageSummary {
  datasetName: string;
  labelSchema: LabelSchema;
  sha256: string;
  bitDepth: number;
  byteSize: number;
  provenance: ImageProvenance;
  readCount: number;
  hasGold: boolean;
}

export async function getImage(
  db: DbOrTx,
  opts: { actor: Actor; imageId: string; datasetId?: string },
): Promise<ImageDetail> {
  const conditions: SQL[] = [eq(images.id, opts.imageId), imageScope(opts.actor)];
  if (opts.datasetId) conditions.push(eq(images.datasetId, opts.datasetId));
  const [row] = await db
    .select({
      ...summaryColumns,
      datasetName: datasets.name,
      labelSchema: datasets.labelSchema,
      sha256: images.sha256,
      bitDepth: images.bitDepth,
      byteSize: images.byteSize,
      provenance: images.provenance,
      readCount: sql<number>`(select count(*)::int from ${reads} where ${reads.imageId} = ${images.id} and ${reads.kind} = 'read')`,
      hasGold: hasGold,
    })
    .from(images)
    .innerJoin(datasets, eq(datasets.id, images.datasetId))
    .where(and(...conditions));
  if (!row) throw notFound("image");
  return row;
}

export const IMAGE_VARIANTS = ["thumb", "full", "original"] as const;
export type ImageVariant = (typeof IMAGE_VARIANTS)[number];

export interface ImageFile {
  key: string;
  contentType: string;
  /** Suggested download name (originals keep their file name). */
  filename: string;
}

const ORIGINAL_TYPES: Record<string, string> = {
  png: "image/png",
  jpeg: "image/jpeg",
  jpg: "image/jpeg",
  dicom: "application/dicom",
  dcm: "application/dicom",
};

/** The stored file behind an image variant; thumbnails and normalized images are PNG. */
export async function getImageFile(
  db: DbOrTx,
  opts: { actor: Actor; imageId: string; variant: ImageVariant },
): Promise<ImageFile> {
  const [row] = await db
    .select({
      originalKey: images.originalKey,
      normalizedKey: images.normalizedKey,
      thumbnailKey: images.thumbnailKey,
      originalFilename: images.originalFilename,
      sourceFormat: images.sourceFormat,
    })
    .from(images)
    .where(and(eq(images.id, opts.imageId), imageScope(opts.actor)));
  if (!row) throw notFound("image");
  const base = row.originalFilename.replace(/\.[^.]*$/, "") || "image";
  if (opts.variant === "thumb")
    return { key: row.thumbnailKey, contentType: "image/png", filename: `${base}.thumb.png` };
  if (opts.variant === "full")
    return { key: row.normalizedKey, contentType: "image/png", filename: `${base}.png` };
  return {
    key: row.originalKey,
    contentType: ORIGINAL_TYPES[row.sourceFormat.toLowerCase()] ?? "application/octet-stream",
    filename: row.originalFilename,
  };
}

export interface DatasetOverview {
  id: string;
  name: string;
  description: string;
  readingMode: "blind" | "assisted";
  readsPerImage: number;
  leaseMinutes: number;
  labelSchema: LabelSchema;
  images: number;
  labelled: number;
  splits: Record<ImageSplit, number>;
}

/** Every dataset the actor may see, with image counts: the home page. */
export async function listDatasetOverviews(
  db: DbOrTx,
  opts: { actor: Actor; datasetId?: string },
): Promise<DatasetOverview[]> {
  const rows = await db
    .select({
      id: datasets.id,
      name: datasets.name,
      description: datasets.description,
      readingMode: datasets.readingMode,
      readsPerImage: datasets.readsPerImage,
      leaseMinutes: datasets.leaseMinutes,
      labelSchema: datasets.labelSchema,
      images: sql<number>`count(${images.id})::int`,
      labelled: sql<number>`(count(${images.id}) filter (where ${hasRead} or ${hasGold}))::int`,
      train: sql<number>`(count(${images.id}) filter (where ${images.split} = 'train'))::int`,
      val: sql<number>`(count(${images.id}) filter (where ${images.split} = 'val'))::int`,
      test: sql<number>`(count(${images.id}) filter (where ${images.split} = 'test'))::int`,
    })
    .from(datasets)
    .leftJoin(images, and(eq(images.datasetId, datasets.id), imageScope(opts.actor)))
    .where(
      and(
        can(opts.actor.role, "datasets.read") ? sql`true` : sql`false`,
        opts.datasetId ? eq(datasets.id, opts.datasetId) : undefined,
      ),
    )
    .groupBy(datasets.id)
    .orderBy(asc(datasets.name));
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    description: r.description,
    readingMode: r.readingMode,
    readsPerImage: r.readsPerImage,
    leaseMinutes: r.leaseMinutes,
    labelSchema: r.labelSchema,
    images: r.images,
    labelled: r.labelled,
    splits: { train: r.train, val: r.val, test: r.test },
  }));
}

export async function getDatasetOverview(
  db: DbOrTx,
  opts: { actor: Actor; datasetId: string },
): Promise<DatasetOverview> {
  const [row] = await listDatasetOverviews(db, opts);
  if (!row) throw notFound("dataset");
  return row;
}
