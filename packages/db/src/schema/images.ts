import { sql } from "drizzle-orm";
import {
  bigint,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { datasets } from "./datasets";
import { imageSplit, importStatus } from "./enums";
import { users } from "./users";

export interface ImageProvenance {
  /** Path relative to the import root (or the uploaded file name). */
  sourcePath: string;
  importId?: string;
  /** A few DICOM tags worth keeping (modality, manufacturer, photometric interpretation, window). */
  dicom?: Record<string, string | number>;
  /** How the 8-bit image was made from the source, e.g. "dicom window 40/400", "percentile 0.5-99.5". */
  normalization?: string;
  /** Columns of the labels CSV row that imported this image, for traceability. */
  csv?: Record<string, string>;
}

export const images = pgTable(
  "images",
  {
    id: uuid().primaryKey().defaultRandom(),
    datasetId: uuid()
      .notNull()
      .references(() => datasets.id, { onDelete: "cascade" }),
    /** sha256 of the original file bytes; also the storage key of the original. */
    sha256: text().notNull(),
    originalKey: text().notNull(),
    /** Normalized 8-bit grey PNG (content-addressed key). */
    normalizedKey: text().notNull(),
    thumbnailKey: text().notNull(),
    originalFilename: text().notNull(),
    sourceFormat: text().notNull(),
    bitDepth: integer().notNull(),
    width: integer().notNull(),
    height: integer().notNull(),
    byteSize: bigint({ mode: "number" }).notNull(),
    species: text(),
    bodyPart: text(),
    view: text(),
    split: imageSplit().notNull().default("train"),
    provenance: jsonb().$type<ImageProvenance>().notNull(),
    /** Queue ranking: higher is asked sooner. Written by pool scoring of the active version. */
    priority: doublePrecision().notNull().default(0),
    /** Reads still wanted before the image leaves the queue (datasets.reads_per_image minus reads). */
    readsNeeded: integer().notNull().default(1),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("images_dataset_sha_idx").on(t.datasetId, t.sha256),
    // "Next unleased, unlabelled image by priority": a small partial index walked in priority order.
    index("images_queue_idx").on(t.datasetId, t.priority.desc(), t.id).where(sql`${t.readsNeeded} > 0`),
    index("images_dataset_split_idx").on(t.datasetId, t.split),
  ],
);

/** An image held by one annotator until it expires; at most one holder per image. */
export const leases = pgTable(
  "leases",
  {
    imageId: uuid()
      .primaryKey()
      .references(() => images.id, { onDelete: "cascade" }),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    datasetId: uuid()
      .notNull()
      .references(() => datasets.id, { onDelete: "cascade" }),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("leases_user_idx").on(t.userId, t.expiresAt)],
);

export interface ImportTotals {
  files: number;
  imported: number;
  duplicates: number;
  refused: number;
}
export interface ImportIssue {
  path: string;
  reason: string;
}

export const imports = pgTable(
  "imports",
  {
    id: uuid().primaryKey().defaultRandom(),
    datasetId: uuid()
      .notNull()
      .references(() => datasets.id, { onDelete: "cascade" }),
    startedBy: uuid().references(() => users.id, { onDelete: "set null" }),
    source: text().notNull(),
    status: importStatus().notNull().default("running"),
    totals: jsonb()
      .$type<ImportTotals>()
      .notNull()
      .default({ files: 0, imported: 0, duplicates: 0, refused: 0 }),
    refusals: jsonb().$type<ImportIssue[]>().notNull().default([]),
    startedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp({ withTimezone: true }),
  },
  (t) => [index("imports_dataset_idx").on(t.datasetId, t.startedAt)],
);
