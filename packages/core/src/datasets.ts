/** Datasets and their label schemas: a gate (normal/abnormal) and an ordered list of binary findings. */
import { type DbOrTx, datasets, type LabelSchema } from "@xray/db";
import { asc, eq, sql } from "drizzle-orm";
import { z } from "zod";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { notFound, ServiceError } from "./errors";

/** The target schema: 7 canine musculoskeletal findings behind a normal/abnormal gate. */
export const DEFAULT_CANINE_MSK_SCHEMA: LabelSchema = {
  gate: { key: "abnormal", name: "Abnormal", description: "Any musculoskeletal abnormality" },
  findings: [
    { key: "patellar_luxation", name: "Patellar luxation" },
    { key: "hip_dysplasia", name: "Hip dysplasia" },
    { key: "cranial_cruciate_ligament_rupture", name: "Cranial cruciate ligament rupture" },
    { key: "fracture", name: "Fracture" },
    { key: "degenerative_joint_disease", name: "Degenerative joint disease" },
    { key: "legg_calve_perthes_disease", name: "Legg-Calve-Perthes disease" },
    { key: "intervertebral_disc_disease", name: "Intervertebral disc disease" },
  ],
};

/**
 * The knee demo's schema. The knee data has Kellgren-Lawrence grades, not the 7 canine findings: the five
 * grades, one-vs-rest, stand in for per-finding heads, and "abnormal" is radiographic OA (KL >= 2).
 */
export const KNEE_KL_SCHEMA: LabelSchema = {
  gate: {
    key: "abnormal",
    name: "Osteoarthritis (KL >= 2)",
    description: "Radiographic OA: KL grade 2 or more",
  },
  findings: [0, 1, 2, 3, 4].map((k) => ({
    key: `kl${k}`,
    name: `KL grade ${k}`,
    description: `Kellgren-Lawrence grade ${k} (one-vs-rest; stands in for a finding)`,
  })),
};

const headSchema = z.object({
  key: z
    .string()
    .regex(
      /^[a-z][a-z0-9_]{0,62}$/,
      "keys are snake_case: lower-case letters, digits and '_', starting with a letter",
    ),
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000).optional(),
});

export const labelSchemaSchema = z
  .object({ gate: headSchema, findings: z.array(headSchema).max(64) })
  .superRefine((s, ctx) => {
    const seen = new Set<string>([s.gate.key]);
    for (const f of s.findings) {
      if (seen.has(f.key)) ctx.addIssue({ code: "custom", message: `duplicate label key "${f.key}"` });
      seen.add(f.key);
    }
  });

export function validateLabelSchema(schema: unknown): LabelSchema {
  const parsed = labelSchemaSchema.safeParse(schema);
  if (!parsed.success)
    throw new ServiceError(
      "BAD_REQUEST",
      `invalid label schema: ${parsed.error.issues.map((i) => `${i.path.join(".") || "schema"}: ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}

export interface Dataset {
  id: string;
  name: string;
  description: string;
  labelSchema: LabelSchema;
  readingMode: "blind" | "assisted";
  readsPerImage: number;
  leaseMinutes: number;
  createdAt: Date;
}

const columns = {
  id: datasets.id,
  name: datasets.name,
  description: datasets.description,
  labelSchema: datasets.labelSchema,
  readingMode: datasets.readingMode,
  readsPerImage: datasets.readsPerImage,
  leaseMinutes: datasets.leaseMinutes,
  createdAt: datasets.createdAt,
};

export interface CreateDatasetOptions {
  name: string;
  description?: string;
  /** Defaults to the canine musculoskeletal schema. */
  labelSchema?: LabelSchema;
  readsPerImage?: number;
  readingMode?: "blind" | "assisted";
  leaseMinutes?: number;
  actor: Actor | null;
}

export async function createDataset(db: DbOrTx, opts: CreateDatasetOptions): Promise<Dataset> {
  const name = opts.name.trim();
  if (!name || name.length > 200)
    throw new ServiceError("BAD_REQUEST", "a dataset needs a name of 1-200 characters");
  const labelSchema = validateLabelSchema(opts.labelSchema ?? DEFAULT_CANINE_MSK_SCHEMA);
  const readsPerImage = opts.readsPerImage ?? 1;
  if (!Number.isInteger(readsPerImage) || readsPerImage < 1 || readsPerImage > 10)
    throw new ServiceError("BAD_REQUEST", "reads per image must be a whole number from 1 to 10");
  const [row] = await db
    .insert(datasets)
    .values({
      name,
      description: opts.description ?? "",
      labelSchema,
      readsPerImage,
      readingMode: opts.readingMode ?? "blind",
      leaseMinutes: opts.leaseMinutes ?? 15,
      createdBy: opts.actor?.id ?? null,
    })
    .onConflictDoNothing()
    .returning(columns);
  if (!row) throw new ServiceError("CONFLICT", `a dataset named "${name}" already exists`);
  await recordAudit(db, {
    actorId: opts.actor?.id ?? null,
    action: "dataset.create",
    resourceType: "dataset",
    resourceId: row.id,
    datasetId: row.id,
    details: { name, findings: labelSchema.findings.map((f) => f.key) },
  });
  return row;
}

export async function getDataset(db: DbOrTx, opts: { datasetId: string }): Promise<Dataset> {
  if (!z.uuid().safeParse(opts.datasetId).success) throw notFound("dataset");
  const [row] = await db.select(columns).from(datasets).where(eq(datasets.id, opts.datasetId));
  if (!row) throw notFound("dataset");
  return row;
}

export async function findDatasetByName(db: DbOrTx, name: string): Promise<Dataset | null> {
  const [row] = await db.select(columns).from(datasets).where(eq(datasets.name, name.trim()));
  return row ?? null;
}

export interface DatasetListItem extends Dataset {
  imageCount: number;
}

export async function listDatasets(db: DbOrTx): Promise<DatasetListItem[]> {
  return await db
    .select({
      ...columns,
      // Written out: drizzle leaves columns unqualified inside a raw subquery, and "id" would bind to images.
      imageCount: sql<number>`(select count(*)::int from images i where i.dataset_id = "datasets"."id")`,
    })
    .from(datasets)
    .orderBy(asc(datasets.name));
}

/**
 * Replaces a dataset's label schema. Existing reads and gold labels keep their keys; a removed finding
 * simply stops being asked and trained.
 */
export async function updateDatasetSchema(
  db: DbOrTx,
  opts: { datasetId: string; labelSchema: LabelSchema; actor: Actor | null },
): Promise<Dataset> {
  const labelSchema = validateLabelSchema(opts.labelSchema);
  const before = await getDataset(db, { datasetId: opts.datasetId });
  const [row] = await db
    .update(datasets)
    .set({ labelSchema, updatedAt: sql`now()` })
    .where(eq(datasets.id, opts.datasetId))
    .returning(columns);
  if (!row) throw notFound("dataset");
  await recordAudit(db, {
    actorId: opts.actor?.id ?? null,
    action: "dataset.schema",
    resourceType: "dataset",
    resourceId: row.id,
    datasetId: row.id,
    details: {
      before: before.labelSchema.findings.map((f) => f.key),
      after: labelSchema.findings.map((f) => f.key),
    },
  });
  return row;
}
