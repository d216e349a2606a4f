/**
 * Seed factories for the queue, read and review tests and the queue benchmark: users, a dataset and
 * many images inserted in one INSERT ... SELECT generate_series (a million rows in seconds).
 * Images made here have no files behind them; they are queue rows only.
 */
import {
  type DbOrTx,
  datasets,
  type LabelSchema,
  modelVersions,
  predictions,
  reads,
  type UserRole,
  users,
} from "@xray/db";
import { sql } from "drizzle-orm";
import type { Actor } from "./actor";

export const TEST_SCHEMA: LabelSchema = {
  gate: { key: "abnormal", name: "Abnormal" },
  findings: [
    { key: "fracture", name: "Fracture" },
    { key: "effusion", name: "Effusion" },
    { key: "osteophytes", name: "Osteophytes" },
  ],
};

export async function seedUsers(
  db: DbOrTx,
  role: UserRole,
  n: number,
  prefix: string = role,
): Promise<Actor[]> {
  const rows = await db
    .insert(users)
    .values(
      Array.from({ length: n }, (_, i) => ({
        email: `${prefix}${i}-${Math.random().toString(36).slice(2, 8)}@example.test`,
        name: `${prefix} ${i}`,
        role,
        // Not a real hash: these users never log in.
        passwordHash: "fixture",
      })),
    )
    .returning({ id: users.id, role: users.role });
  return rows;
}

export async function seedDataset(
  db: DbOrTx,
  opts: { name?: string; readsPerImage?: number; leaseMinutes?: number; schema?: LabelSchema } = {},
): Promise<string> {
  const [row] = await db
    .insert(datasets)
    .values({
      name: opts.name ?? `ds-${Math.random().toString(36).slice(2, 10)}`,
      labelSchema: opts.schema ?? TEST_SCHEMA,
      readsPerImage: opts.readsPerImage ?? 1,
      leaseMinutes: opts.leaseMinutes ?? 15,
    })
    .returning({ id: datasets.id });
  if (!row) throw new Error("dataset insert returned nothing");
  return row.id;
}

/**
 * Inserts `count` images; priority is (count - n) so image n=1 comes first, unless `randomPriority`.
 * Returns the ids in priority order (highest first) when `returnIds`, else an empty array.
 */
export async function seedImages(
  db: DbOrTx,
  opts: {
    datasetId: string;
    count: number;
    readsNeeded?: number;
    randomPriority?: boolean;
    returnIds?: boolean;
  },
): Promise<string[]> {
  const readsNeeded = opts.readsNeeded ?? 1;
  const priority = opts.randomPriority ? sql`random()` : sql`(${opts.count} - n)::float8`;
  await db.execute(sql`
    insert into images (dataset_id, sha256, original_key, normalized_key, thumbnail_key, original_filename,
      source_format, bit_depth, width, height, byte_size, provenance, priority, reads_needed)
    select ${opts.datasetId}, md5(${opts.datasetId}::text || n::text) || md5(n::text), 'orig/' || n, 'norm/' || n,
      'thumb/' || n, 'img' || n || '.png', 'png', 8, 128, 128, 1000,
      jsonb_build_object('sourcePath', 'img' || n || '.png'), ${priority}, ${readsNeeded}
    from generate_series(1, ${opts.count}) as n`);
  if (!opts.returnIds) return [];
  const res = await db.execute<{ id: string }>(
    sql`select id from images where dataset_id = ${opts.datasetId} order by priority desc nulls last, id`,
  );
  return res.rows.map((r) => r.id);
}

export async function seedVersion(
  db: DbOrTx,
  opts: { datasetId: string; number: number; metrics?: Record<string, unknown>; labelCount?: number },
): Promise<string> {
  const [row] = await db
    .insert(modelVersions)
    .values({
      datasetId: opts.datasetId,
      number: opts.number,
      artifactKey: `models/fixture-${opts.number}`,
      config: {},
      labelSnapshot: { count: opts.labelCount ?? 0, hash: "fixture" },
      metrics: opts.metrics ?? {},
    })
    .returning({ id: modelVersions.id });
  if (!row) throw new Error("version insert returned nothing");
  return row.id;
}

export interface FixturePrediction {
  imageId: string;
  probs: Record<string, number>;
  uncertainty?: number;
  embedding?: number[];
}

export async function seedPredictions(
  db: DbOrTx,
  versionId: string,
  rows: FixturePrediction[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.insert(predictions).values(
    rows.map((r) => ({
      versionId,
      imageId: r.imageId,
      probs: r.probs,
      uncertainty: r.uncertainty ?? 0,
      embedding: r.embedding ?? null,
    })),
  );
}

/** Inserts reads directly (no lease), for label and review tests. */
export async function seedReads(
  db: DbOrTx,
  datasetId: string,
  rows: {
    imageId: string;
    userId: string;
    gate?: "normal" | "abnormal" | null;
    findings?: Record<string, "positive" | "negative" | "uncertain">;
    kind?: "read" | "skip";
    flagged?: boolean;
    createdAt?: Date;
  }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.insert(reads).values(
    rows.map((r) => ({
      imageId: r.imageId,
      datasetId,
      userId: r.userId,
      kind: r.kind ?? "read",
      gate: r.kind === "skip" ? null : (r.gate ?? "normal"),
      findings: r.findings ?? {},
      skipReason: r.kind === "skip" ? "fixture" : null,
      flagged: r.flagged ?? false,
      createdAt: r.createdAt ?? new Date(),
    })),
  );
}
