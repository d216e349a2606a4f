import { sql } from "drizzle-orm";
import { index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { datasets } from "./datasets";
import { modelVersions, trainingRounds } from "./models";

/**
 * One pass of pool scoring for a version, split into shards that any worker sharing the database can
 * claim. At most one open run per version; the worker that finds every shard done claims the
 * follow-up (promotion, re-ranking, heatmaps) with a guarded UPDATE, so it runs exactly once.
 */
export const scoreRuns = pgTable(
  "score_runs",
  {
    id: uuid().primaryKey().defaultRandom(),
    versionId: uuid()
      .notNull()
      .references(() => modelVersions.id, { onDelete: "cascade" }),
    datasetId: uuid()
      .notNull()
      .references(() => datasets.id, { onDelete: "cascade" }),
    /** The training round this scoring belongs to (its follow-up finishes the round), or null. */
    roundId: uuid().references(() => trainingRounds.id, { onDelete: "set null" }),
    shards: integer().notNull(),
    /** Images of the dataset when the run was planned (progress denominator). */
    total: integer().notNull().default(0),
    /** Who holds the follow-up and since when (a stale claim can be taken over). */
    followupWorker: text(),
    followupAt: timestamp({ withTimezone: true }),
    finishedAt: timestamp({ withTimezone: true }),
    /**
     * Why the run failed (finishedAt set, no follow-up ran): a version's files missing from storage,
     * or a shard that failed or was abandoned maxAttempts times. Null for a run that finished.
     */
    error: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("score_runs_open_idx").on(t.versionId).where(sql`${t.finishedAt} is null`)],
);

/**
 * A disjoint slice of the pool: the images whose id lies in [fromId, toId) (toId null: no upper
 * bound). Image ids are random UUIDs, so equal id ranges hold about equal numbers of images, and a
 * range is walked on the primary key. A shard is held by one worker through its heartbeat; a stale
 * one is claimed again and goes on where its predictions stop.
 */
export const scoreShards = pgTable(
  "score_shards",
  {
    runId: uuid()
      .notNull()
      .references(() => scoreRuns.id, { onDelete: "cascade" }),
    shard: integer().notNull(),
    fromId: uuid().notNull(),
    toId: uuid(),
    /** "failed": closed with its run (see scoreRuns.error), never claimed again. */
    status: text().$type<"pending" | "running" | "done" | "failed">().notNull().default("pending"),
    workerId: text(),
    heartbeatAt: timestamp({ withTimezone: true }),
    attempts: integer().notNull().default(0),
    /** Images this shard ran through the model (over all its attempts): a resume that redid work shows here. */
    scored: integer().notNull().default(0),
    finishedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.runId, t.shard] }),
    index("score_shards_status_idx").on(t.runId, t.status),
  ],
);
