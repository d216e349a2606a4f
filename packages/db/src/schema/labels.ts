import { sql } from "drizzle-orm";
import {
  boolean,
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
import { type FindingValue, gateValue, readKind } from "./enums";
import { images } from "./images";
import { users } from "./users";

/** One read per annotator per image: the gate, then one value per finding of the dataset's schema. */
export const reads = pgTable(
  "reads",
  {
    id: uuid().primaryKey().defaultRandom(),
    imageId: uuid()
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    datasetId: uuid()
      .notNull()
      .references(() => datasets.id, { onDelete: "cascade" }),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    kind: readKind().notNull().default("read"),
    /** Null for a skip. */
    gate: gateValue(),
    /** finding key -> positive / negative / uncertain; empty when the gate is normal (all negative). */
    findings: jsonb().$type<Record<string, FindingValue>>().notNull().default({}),
    skipReason: text(),
    flagged: boolean().notNull().default(false),
    flagReason: text(),
    timeSpentMs: integer().notNull().default(0),
    /** Whether model output was visible before submitting, and which version. */
    assisted: boolean().notNull().default(false),
    modelVersionId: uuid(),
    /** When the lease it was submitted under would have expired: undo is allowed until then. */
    leaseExpiresAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("reads_image_user_idx").on(t.imageId, t.userId),
    index("reads_user_idx").on(t.userId, t.createdAt),
    index("reads_dataset_idx").on(t.datasetId, t.createdAt),
    index("reads_flagged_idx").on(t.datasetId).where(sql`${t.flagged}`),
  ],
);

/** Adjudicated labels. History is kept: a new gold label supersedes the previous one. */
export const goldLabels = pgTable(
  "gold_labels",
  {
    id: uuid().primaryKey().defaultRandom(),
    imageId: uuid()
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    datasetId: uuid()
      .notNull()
      .references(() => datasets.id, { onDelete: "cascade" }),
    gate: gateValue().notNull(),
    /** finding key -> positive / negative (uncertain is allowed and then excluded from training). */
    findings: jsonb().$type<Record<string, FindingValue>>().notNull().default({}),
    adjudicatedBy: uuid()
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    reason: text().notNull().default(""),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    supersededAt: timestamp({ withTimezone: true }),
    /** Set when a lead withdraws the gold label without replacing it. */
    revokedReason: text(),
  },
  (t) => [
    uniqueIndex("gold_current_idx").on(t.imageId).where(sql`${t.supersededAt} is null`),
    index("gold_dataset_idx").on(t.datasetId, t.createdAt),
  ],
);
