/**
 * Model versions: listing, the active version per dataset, promotion (rollback = promoting an older
 * version) and a side-by-side comparison of two versions' per-head metrics.
 */
import { type DbOrTx, datasets, type LabelSnapshot, modelVersions } from "@xray/db";
import { and, desc, eq, ne, sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { notFound, ServiceError } from "./errors";
import { type RankQueueOptions, type RankQueueResult, rankQueue } from "./priorities";

export type VersionRecord = typeof modelVersions.$inferSelect;

const PROMOTERS = new Set(["researcher", "admin"]);

export interface PromoteVersionOptions {
  actor: Actor;
  versionId: string;
  /**
   * Re-rank the queue from the promoted version's predictions right after promoting (default
   * false: a million-image re-rank takes a while, so web requests should leave it to a worker job).
   */
  rerank?: boolean | Omit<RankQueueOptions, "datasetId" | "versionId" | "actor">;
}

/**
 * Makes the version the dataset's only active one, in one transaction (the partial unique index
 * versions_active_idx backs the "exactly one" rule). Promoting the active version again is a no-op
 * that still succeeds. Returns the promoted version and the one it replaced.
 */
export async function promoteVersion(
  db: DbOrTx,
  opts: PromoteVersionOptions,
): Promise<{ version: VersionRecord; previousActiveId: string | null; ranking: RankQueueResult | null }> {
  if (!PROMOTERS.has(opts.actor.role))
    throw new ServiceError("FORBIDDEN", "only a researcher or an admin can promote a version");
  const promoted = await db.transaction(async (tx) => {
    const [target] = await tx
      .select({ id: modelVersions.id, datasetId: modelVersions.datasetId, number: modelVersions.number })
      .from(modelVersions)
      .where(eq(modelVersions.id, opts.versionId));
    if (!target) throw notFound("model version");
    // Serialise promotions within a dataset: concurrent ones run one after the other.
    await tx.execute(sql`select 1 from ${datasets} where ${datasets.id} = ${target.datasetId} for update`);
    const [previous] = await tx
      .select({ id: modelVersions.id })
      .from(modelVersions)
      .where(and(eq(modelVersions.datasetId, target.datasetId), eq(modelVersions.isActive, true)));
    await tx
      .update(modelVersions)
      .set({ isActive: false })
      .where(
        and(
          eq(modelVersions.datasetId, target.datasetId),
          eq(modelVersions.isActive, true),
          ne(modelVersions.id, target.id),
        ),
      );
    const [version] = await tx
      .update(modelVersions)
      .set({ isActive: true, promotedAt: sql`now()`, promotedBy: opts.actor.id })
      .where(eq(modelVersions.id, target.id))
      .returning();
    if (!version) throw notFound("model version");
    await recordAudit(tx, {
      actorId: opts.actor.id,
      action: "version.promote",
      resourceType: "model_version",
      resourceId: version.id,
      datasetId: version.datasetId,
      details: { number: version.number, previousActiveId: previous?.id ?? null },
    });
    return { version, previousActiveId: previous?.id ?? null };
  });
  let ranking: RankQueueResult | null = null;
  if (opts.rerank) {
    const extra = typeof opts.rerank === "object" ? opts.rerank : {};
    ranking = await rankQueue(db, {
      ...extra,
      datasetId: promoted.version.datasetId,
      versionId: promoted.version.id,
      actor: opts.actor,
    });
  }
  return { ...promoted, ranking };
}

/** The dataset's active version, or null when none has been promoted (cold start). */
export async function activeVersion(db: DbOrTx, datasetId: string): Promise<VersionRecord | null> {
  const [row] = await db
    .select()
    .from(modelVersions)
    .where(and(eq(modelVersions.datasetId, datasetId), eq(modelVersions.isActive, true)));
  return row ?? null;
}

/** A dataset's versions, newest first. */
export async function listVersions(db: DbOrTx, opts: { datasetId: string }): Promise<VersionRecord[]> {
  return await db
    .select()
    .from(modelVersions)
    .where(eq(modelVersions.datasetId, opts.datasetId))
    .orderBy(desc(modelVersions.number));
}

export async function getVersion(db: DbOrTx, versionId: string): Promise<VersionRecord> {
  const [row] = await db.select().from(modelVersions).where(eq(modelVersions.id, versionId));
  if (!row) throw notFound("model version");
  return row;
}

/** The numbers compared per head; each read from the head's metrics report when present. */
export const COMPARED_METRICS = [
  "auroc",
  "auprc",
  "sensitivity",
  "specificity",
  "f1",
  "kappa",
  "ece",
  "brier",
] as const;
export type ComparedMetric = (typeof COMPARED_METRICS)[number];

function numberAt(obj: unknown, path: string[]): number | null {
  let cur: unknown = obj;
  for (const key of path) {
    if (typeof cur !== "object" || cur === null) return null;
    cur = (cur as Record<string, unknown>)[key];
  }
  return typeof cur === "number" && Number.isFinite(cur) ? cur : null;
}

/**
 * Reads one head's headline numbers from a metrics report (the shape of @xray/ml's perHeadReport:
 * auroc.value, auprc, atThreshold.{sensitivity,...}, calibration.ece, brier), tolerating plain numbers.
 */
export function headSummary(report: unknown): Record<ComparedMetric, number | null> {
  const pick = (...paths: string[][]): number | null => {
    for (const p of paths) {
      const v = numberAt(report, p);
      if (v !== null) return v;
    }
    return null;
  };
  return {
    auroc: pick(["auroc", "value"], ["auroc"]),
    auprc: pick(["auprc"]),
    sensitivity: pick(["atThreshold", "sensitivity"], ["sensitivity"]),
    specificity: pick(["atThreshold", "specificity"], ["specificity"]),
    f1: pick(["atThreshold", "f1"], ["f1"]),
    kappa: pick(["atThreshold", "kappa"], ["kappa"]),
    ece: pick(["calibration", "ece"], ["ece"]),
    brier: pick(["brier"]),
  };
}

/** The per-head reports inside a version's metrics: `metrics.heads` when present, else `metrics` itself. */
export function headReports(metrics: Record<string, unknown>): Record<string, unknown> {
  const heads = metrics.heads;
  const source = typeof heads === "object" && heads !== null ? (heads as Record<string, unknown>) : metrics;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(source)) if (typeof v === "object" && v !== null) out[k] = v;
  return out;
}

export interface VersionComparison {
  a: VersionRecord;
  b: VersionRecord;
  heads: {
    head: string;
    a: Record<ComparedMetric, number | null> | null;
    b: Record<ComparedMetric, number | null> | null;
    /** b minus a, where both have the number. */
    delta: Record<ComparedMetric, number | null>;
  }[];
  labels: { a: LabelSnapshot; b: LabelSnapshot; added: number };
  /** Images both versions scored, and how many of them each head's decision (p >= 0.5) differs on. */
  predictions: { shared: number; disagreements: Record<string, number> };
}

/** Two versions of one dataset side by side: per-head metrics with deltas, labels, prediction drift. */
export async function compareVersions(
  db: DbOrTx,
  opts: { versionA: string; versionB: string },
): Promise<VersionComparison> {
  const a = await getVersion(db, opts.versionA);
  const b = await getVersion(db, opts.versionB);
  if (a.datasetId !== b.datasetId)
    throw new ServiceError("BAD_REQUEST", "the two versions belong to different datasets");
  const ha = headReports(a.metrics);
  const hb = headReports(b.metrics);
  const names = [...new Set([...Object.keys(ha), ...Object.keys(hb)])];
  const heads = names.map((head) => {
    const sa = head in ha ? headSummary(ha[head]) : null;
    const sb = head in hb ? headSummary(hb[head]) : null;
    const delta = Object.fromEntries(
      COMPARED_METRICS.map((m) => {
        const x = sa?.[m] ?? null;
        const y = sb?.[m] ?? null;
        return [m, x !== null && y !== null ? y - x : null];
      }),
    ) as Record<ComparedMetric, number | null>;
    return { head, a: sa, b: sb, delta };
  });
  const drift = await db.execute<{ head: string; shared: string; differ: string }>(sql`
    select k.head, count(*) as shared,
      count(*) filter (where ((pa.probs->>k.head)::float8 >= 0.5) <> ((pb.probs->>k.head)::float8 >= 0.5)) as differ
    from predictions pa
    join predictions pb on pb.image_id = pa.image_id and pb.version_id = ${b.id}
    cross join lateral jsonb_object_keys(pa.probs) as k(head)
    where pa.version_id = ${a.id} and pb.probs ? k.head
    group by k.head`);
  const disagreements: Record<string, number> = {};
  let shared = 0;
  for (const r of drift.rows) {
    disagreements[r.head] = Number(r.differ);
    shared = Math.max(shared, Number(r.shared));
  }
  return {
    a,
    b,
    heads,
    labels: { a: a.labelSnapshot, b: b.labelSnapshot, added: b.labelSnapshot.count - a.labelSnapshot.count },
    predictions: { shared, disagreements },
  };
}
