import { integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { readingMode } from "./enums";
import { users } from "./users";

export interface LabelHead {
  /** Stable machine key, e.g. "hip_dysplasia"; used in reads, predictions and model heads. */
  key: string;
  name: string;
  description?: string;
}

/** The label schema is data: a gate label (normal/abnormal) and an ordered list of binary findings. */
export interface LabelSchema {
  gate: LabelHead;
  findings: LabelHead[];
}

export const datasets = pgTable(
  "datasets",
  {
    id: uuid().primaryKey().defaultRandom(),
    name: text().notNull(),
    description: text().notNull().default(""),
    labelSchema: jsonb().$type<LabelSchema>().notNull(),
    readingMode: readingMode().notNull().default("blind"),
    readsPerImage: integer().notNull().default(1),
    /** Minutes an annotator holds an image before it returns to the queue. */
    leaseMinutes: integer().notNull().default(15),
    createdBy: uuid().references(() => users.id, { onDelete: "set null" }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("datasets_name_idx").on(t.name)],
);
