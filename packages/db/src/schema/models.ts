import { sql } from "drizzle-orm";
import {
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { datasets } from "./datasets";
import { roundStatus } from "./enums";
import { images } from "./images";
import { users } from "./users";

export interface RoundProgress {
  stage: string;
  stageIndex?: number;
  stageCount?: number;
  epoch?: number;
  epochs?: number;
  step?: number;
  steps?: number;
  losses?: Record<string, number>;
  maskRate?: number;
  etaSeconds?: number;
  message?: string;
}

export interface LabelSnapshot {
  count: number;
  /** sha256 over the sorted (image, label) pairs that trained the version. */
  hash: string;
  perHead?: Record<string, { positive: number; negative: number }>;
}

export const trainingRounds = pgTable(
  "training_rounds",
  {
    id: uuid().primaryKey().defaultRandom(),
    datasetId: uuid()
      .notNull()
      .references(() => datasets.id, { onDelete: "cascade" }),
    createdBy: uuid().references(() => users.id, { onDelete: "set null" }),
    /** Validated by the shared round-config schema (API, CLI and worker use the same one). */
    config: jsonb().$type<Record<string, unknown>>().notNull(),
    status: roundStatus().notNull().default("queued"),
    progress: jsonb().$type<RoundProgress>().notNull().default({ stage: "queued" }),
    error: text(),
    jobId: text(),
    workerId: text(),
    attempts: integer().notNull().default(0),
    versionId: uuid(),
    /** Last checkpoint written by the worker (storage key), for resume after a crash. */
    checkpointKey: text(),
    heartbeatAt: timestamp({ withTimezone: true }),
    startedAt: timestamp({ withTimezone: true }),
    finishedAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("rounds_dataset_idx").on(t.datasetId, t.createdAt), index("rounds_status_idx").on(t.status)],
);

/** Per-epoch (or per-stage) metrics of a round, appended as it runs: the loss and mask-rate curves. */
export const roundMetrics = pgTable(
  "round_metrics",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    roundId: uuid()
      .notNull()
      .references(() => trainingRounds.id, { onDelete: "cascade" }),
    stage: text().notNull(),
    epoch: integer().notNull(),
    values: jsonb().$type<Record<string, number>>().notNull(),
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("round_metrics_round_idx").on(t.roundId, t.id)],
);

export const modelVersions = pgTable(
  "model_versions",
  {
    id: uuid().primaryKey().defaultRandom(),
    datasetId: uuid()
      .notNull()
      .references(() => datasets.id, { onDelete: "cascade" }),
    /** Human-readable, increasing per dataset: 1, 2, 3 ... */
    number: integer().notNull(),
    roundId: uuid().references(() => trainingRounds.id, { onDelete: "set null" }),
    parentVersionId: uuid(),
    /** The version whose encoder this one started from (null when pretrained in its own round). */
    encoderFromVersionId: uuid(),
    /** Storage prefix of the TF.js model (model.json, weights, metadata). */
    artifactKey: text().notNull(),
    config: jsonb().$type<Record<string, unknown>>().notNull(),
    labelSnapshot: jsonb().$type<LabelSnapshot>().notNull(),
    codeRevision: text().notNull().default("unknown"),
    /** Per-head evaluation on the held-out split (AUROC with CI, AUPRC, sens/spec, ...). */
    metrics: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    isActive: boolean().notNull().default(false),
    promotedAt: timestamp({ withTimezone: true }),
    promotedBy: uuid().references(() => users.id, { onDelete: "set null" }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("versions_dataset_number_idx").on(t.datasetId, t.number),
    uniqueIndex("versions_active_idx").on(t.datasetId).where(sql`${t.isActive}`),
  ],
);

/** A version's output for one image: per-head probability, uncertainty scores and the embedding. */
export const predictions = pgTable(
  "predictions",
  {
    versionId: uuid()
      .notNull()
      .references(() => modelVersions.id, { onDelete: "cascade" }),
    imageId: uuid()
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    probs: jsonb().$type<Record<string, number>>().notNull(),
    /** entropy, margin, leastConfidence, bald ... per the scoring methods run. */
    scores: jsonb().$type<Record<string, number>>().notNull().default({}),
    /** The combined uncertainty the queue ranks by. */
    uncertainty: doublePrecision().notNull().default(0),
    embedding: real().array(),
    /** head key -> storage key of the Grad-CAM heatmap PNG, where computed. */
    heatmaps: jsonb().$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.versionId, t.imageId] }), index("predictions_image_idx").on(t.imageId)],
);
