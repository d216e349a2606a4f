/**
 * Reads: an annotator's label of an image (normal/abnormal gate, then one value per finding), or a
 * skip with a reason. One read per annotator per image (reads_image_user_idx): a second submit is a
 * CONFLICT, never a second row. A read is submitted under the annotator's lease; submitting releases
 * the lease and lowers the image's readsNeeded (a skip does not: someone else still has to read it).
 * Undo works while the lease would still have held; a read can be changed until a lead adjudicates.
 */
import {
  type DbOrTx,
  datasets,
  type FindingValue,
  type GateValue,
  images,
  type LabelSchema,
  reads,
} from "@xray/db";
import { and, count, desc, eq, gte, lt, sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { notFound, ServiceError } from "./errors";

export const FINDING_VALUES: readonly FindingValue[] = ["positive", "negative", "uncertain"];
export const GATE_VALUES: readonly GateValue[] = ["normal", "abnormal"];

/**
 * Checks a label against the dataset's schema and returns the findings to store. Keys must be
 * findings of the schema, values positive/negative/uncertain; a normal gate allows only negative
 * findings (or none: normal means every finding is negative).
 */
export function validateLabel(
  schema: LabelSchema,
  gate: string,
  findings: Record<string, string>,
): { gate: GateValue; findings: Record<string, FindingValue> } {
  const keys = new Set(schema.findings.map((f) => f.key));
  for (const key of Object.keys(findings))
    if (!keys.has(key)) throw new ServiceError("BAD_REQUEST", `unknown finding ${JSON.stringify(key)}`);
  return validateLabelValues(gate, findings);
}

/** The schema-free half of validateLabel: gate and values (submitRead checks the keys in SQL). */
export function validateLabelValues(
  gate: string,
  findings: Record<string, string>,
): { gate: GateValue; findings: Record<string, FindingValue> } {
  if (gate !== "normal" && gate !== "abnormal")
    throw new ServiceError("BAD_REQUEST", `gate must be normal or abnormal, not ${JSON.stringify(gate)}`);
  const out: Record<string, FindingValue> = {};
  for (const [key, value] of Object.entries(findings)) {
    if (value !== "positive" && value !== "negative" && value !== "uncertain")
      throw new ServiceError("BAD_REQUEST", `finding ${key} must be positive, negative or uncertain`);
    if (gate === "normal" && value !== "negative")
      throw new ServiceError("BAD_REQUEST", `a normal image cannot have finding ${key} ${value}`);
    out[key] = value;
  }
  return { gate, findings: out };
}

export interface ReadRecord {
  id: string;
  imageId: string;
  datasetId: string;
  userId: string;
  kind: "read" | "skip";
  gate: GateValue | null;
  findings: Record<string, FindingValue>;
  skipReason: string | null;
  flagged: boolean;
  flagReason: string | null;
  timeSpentMs: number;
  assisted: boolean;
  modelVersionId: string | null;
  leaseExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const readColumns = {
  id: reads.id,
  imageId: reads.imageId,
  datasetId: reads.datasetId,
  userId: reads.userId,
  kind: reads.kind,
  gate: reads.gate,
  findings: reads.findings,
  skipReason: reads.skipReason,
  flagged: reads.flagged,
  flagReason: reads.flagReason,
  timeSpentMs: reads.timeSpentMs,
  assisted: reads.assisted,
  modelVersionId: reads.modelVersionId,
  leaseExpiresAt: reads.leaseExpiresAt,
  createdAt: reads.createdAt,
  updatedAt: reads.updatedAt,
};

function checkTime(ms: number | undefined): number {
  const v = ms ?? 0;
  if (!Number.isFinite(v) || v < 0) throw new ServiceError("BAD_REQUEST", "timeSpentMs must be >= 0");
  // An int column; a tab left open for weeks is not a real reading time anyway.
  return Math.min(Math.round(v), 2_147_483_647);
}

async function schemaOf(db: DbOrTx, datasetId: string): Promise<LabelSchema> {
  const [row] = await db
    .select({ labelSchema: datasets.labelSchema })
    .from(datasets)
    .where(eq(datasets.id, datasetId));
  if (!row) throw notFound("dataset");
  return row.labelSchema;
}

async function hasGold(db: DbOrTx, imageId: string): Promise<boolean> {
  const res = await db.execute(
    sql`select 1 from gold_labels where image_id = ${imageId} and superseded_at is null limit 1`,
  );
  return res.rows.length > 0;
}

/**
 * Why nothing was stored: NOT_FOUND without the image, CONFLICT when the caller already read it,
 * BAD_REQUEST when a finding is not in the dataset's schema, else PRECONDITION_FAILED (no lease).
 */
async function explainRefusal(db: DbOrTx, input: StoreReadInput): Promise<ServiceError> {
  const res = await db.execute<{ label_schema: LabelSchema; already: boolean }>(sql`
    select d.label_schema,
      exists (select 1 from reads r where r.image_id = i.id and r.user_id = ${input.actor.id}) as already
    from images i join datasets d on d.id = i.dataset_id
    where i.id = ${input.imageId}`);
  const row = res.rows[0];
  if (!row) return notFound("image");
  if (row.already) return alreadySubmitted();
  if (input.gate !== null) {
    try {
      validateLabel(row.label_schema, input.gate, input.findings);
    } catch (err) {
      if (err instanceof ServiceError) return err;
      throw err;
    }
  }
  return noLease();
}

/** The PostgreSQL error code of a failed query (drizzle wraps the driver's error in `cause`). */
export function pgErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e?.code === "string") return e.code;
  return typeof e?.cause?.code === "string" ? e.cause.code : undefined;
}

const alreadySubmitted = () =>
  new ServiceError("CONFLICT", "you already submitted this image; change your read from My reads instead");

const noLease = () =>
  new ServiceError(
    "PRECONDITION_FAILED",
    "you do not hold this image (the lease expired or was never yours); ask for the next image",
  );

interface StoreReadInput {
  actor: Actor;
  imageId: string;
  kind: "read" | "skip";
  gate: GateValue | null;
  findings: Record<string, FindingValue>;
  skipReason: string | null;
  flagged: boolean;
  flagReason: string | null;
  timeSpentMs: number;
  assisted: boolean;
  modelVersionId: string | null;
}

interface ReadRow {
  id: string;
  image_id: string;
  dataset_id: string;
  user_id: string;
  kind: "read" | "skip";
  gate: GateValue | null;
  findings: Record<string, FindingValue>;
  skip_reason: string | null;
  flagged: boolean;
  flag_reason: string | null;
  time_spent_ms: number;
  assisted: boolean;
  model_version_id: string | null;
  lease_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

function fromRow(r: ReadRow): ReadRecord {
  return {
    id: r.id,
    imageId: r.image_id,
    datasetId: r.dataset_id,
    userId: r.user_id,
    kind: r.kind,
    gate: r.gate,
    findings: r.findings,
    skipReason: r.skip_reason,
    flagged: r.flagged,
    flagReason: r.flag_reason,
    timeSpentMs: r.time_spent_ms,
    assisted: r.assisted,
    modelVersionId: r.model_version_id,
    leaseExpiresAt: r.lease_expires_at === null ? null : new Date(r.lease_expires_at),
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

/**
 * One atomic statement, one round trip: check the finding keys against the schema, consume the
 * caller's unexpired lease, insert the read, lower readsNeeded
 * (reads only) and write the audit event. Without the lease nothing happens. A concurrent second
 * submit of the same image either finds the lease gone or violates reads_image_user_idx, which aborts
 * the whole statement (lease delete included): it is reported as CONFLICT, never stored twice.
 */
async function storeRead(db: DbOrTx, input: StoreReadInput): Promise<ReadRecord> {
  const { actor, imageId } = input;
  const findingsJson = JSON.stringify(input.findings);
  const details = JSON.stringify(
    input.kind === "read"
      ? { imageId, gate: input.gate, findings: input.findings, flagged: input.flagged }
      : { imageId, reason: input.skipReason, flagged: input.flagged },
  );
  let res: { rows: ReadRow[] };
  try {
    res = await db.execute<ReadRow & Record<string, unknown>>(sql`
      with valid as (
        -- Every finding key must be in the dataset's schema (values were checked before the call).
        -- Locking the image row BEFORE the lease keeps the lock order of nextImage (image, then
        -- lease); the other order deadlocks against a nextImage that lost a race for this image.
        select 1 from images i join datasets d on d.id = i.dataset_id
        where i.id = ${imageId} and not exists (
          select 1 from jsonb_object_keys(${findingsJson}::jsonb) as k(key)
          where k.key not in (select f->>'key' from jsonb_array_elements(d.label_schema->'findings') as f))
        for update of i
      ), lease as (
        delete from leases where image_id = ${imageId} and user_id = ${actor.id} and expires_at > now()
          and exists (select 1 from valid)
        returning image_id, dataset_id, expires_at
      ), stored as (
        insert into reads (image_id, dataset_id, user_id, kind, gate, findings, skip_reason, flagged, flag_reason,
          time_spent_ms, assisted, model_version_id, lease_expires_at)
        select image_id, dataset_id, ${actor.id}, ${input.kind}, ${input.gate}, ${findingsJson}::jsonb,
          ${input.skipReason}, ${input.flagged}, ${input.flagReason}, ${input.timeSpentMs}, ${input.assisted},
          ${input.modelVersionId}, expires_at
        from lease
        returning *
      ), counted as (
        update images set reads_needed = greatest(reads_needed - 1, 0)
        where id in (select image_id from stored where kind = 'read')
      ), audited as (
        insert into audit_events (actor_id, action, resource_type, resource_id, dataset_id, details)
        select ${actor.id}, ${input.kind === "read" ? "read.submit" : "read.skip"}, 'read', id::text, dataset_id,
          ${details}::jsonb
        from stored
      )
      select * from stored`);
  } catch (err) {
    if (pgErrorCode(err) === "23505") throw alreadySubmitted();
    throw err;
  }
  const row = res.rows[0];
  if (row) return fromRow(row);
  // Nothing stored: find out why (off the hot path).
  throw await explainRefusal(db, input);
}

export interface SubmitReadOptions {
  actor: Actor;
  imageId: string;
  gate: GateValue;
  findings: Record<string, FindingValue>;
  timeSpentMs: number;
  flagged?: boolean;
  flagReason?: string;
  assisted?: boolean;
  modelVersionId?: string | null;
}

/**
 * Stores the read atomically: lease consumed, one row inserted, readsNeeded lowered, audited.
 * CONFLICT when the caller already submitted this image, PRECONDITION_FAILED without their lease,
 * BAD_REQUEST when the findings do not fit the dataset's schema.
 */
export async function submitRead(db: DbOrTx, opts: SubmitReadOptions): Promise<ReadRecord> {
  const label = validateLabelValues(opts.gate, opts.findings);
  const flagged = opts.flagged ?? false;
  return await storeRead(db, {
    actor: opts.actor,
    imageId: opts.imageId,
    kind: "read",
    gate: label.gate,
    findings: label.findings,
    skipReason: null,
    flagged,
    flagReason: flagged ? (opts.flagReason?.trim() ?? null) : null,
    timeSpentMs: checkTime(opts.timeSpentMs),
    assisted: opts.assisted ?? false,
    modelVersionId: opts.modelVersionId ?? null,
  });
}

export interface SkipImageOptions {
  actor: Actor;
  imageId: string;
  reason: string;
  timeSpentMs?: number;
  flagged?: boolean;
  flagReason?: string;
}

/** Records that this annotator will not read the image (it stays in the queue for the others). */
export async function skipImage(db: DbOrTx, opts: SkipImageOptions): Promise<ReadRecord> {
  const reason = opts.reason.trim();
  if (!reason) throw new ServiceError("BAD_REQUEST", "a skip needs a reason");
  const flagged = opts.flagged ?? false;
  return await storeRead(db, {
    actor: opts.actor,
    imageId: opts.imageId,
    kind: "skip",
    gate: null,
    findings: {},
    skipReason: reason,
    flagged,
    flagReason: flagged ? (opts.flagReason?.trim() ?? null) : null,
    timeSpentMs: checkTime(opts.timeSpentMs),
    assisted: false,
    modelVersionId: null,
  });
}

export interface FlagImageOptions {
  actor: Actor;
  imageId: string;
  /** Default true; false removes the flag. */
  flagged?: boolean;
  reason?: string;
}

/**
 * Flags (or unflags) the caller's read or skip of an image for a lead. To flag while reading, pass
 * `flagged` to submitRead / skipImage; this is for an image already submitted.
 */
export async function flagImage(db: DbOrTx, opts: FlagImageOptions): Promise<ReadRecord> {
  const flagged = opts.flagged ?? true;
  return await db.transaction(async (tx) => {
    const [row] = await tx
      .update(reads)
      .set({
        flagged,
        flagReason: flagged ? (opts.reason?.trim() ?? null) : null,
        updatedAt: sql`now()`,
      })
      .where(and(eq(reads.imageId, opts.imageId), eq(reads.userId, opts.actor.id)))
      .returning(readColumns);
    if (!row) throw notFound("your read of this image");
    await recordAudit(tx, {
      actorId: opts.actor.id,
      action: flagged ? "read.flag" : "read.unflag",
      resourceType: "read",
      resourceId: row.id,
      datasetId: row.datasetId,
      details: { imageId: opts.imageId, reason: row.flagReason },
    });
    return row;
  });
}

export interface UndoLastReadOptions {
  actor: Actor;
  /** The read to undo; default the caller's most recent read or skip. */
  imageId?: string;
  datasetId?: string;
}

/**
 * Takes back a read or skip while the lease it was submitted under would still hold: the read is
 * deleted, readsNeeded restored and the lease given back to the caller until its original expiry.
 */
export async function undoLastRead(
  db: DbOrTx,
  opts: UndoLastReadOptions,
): Promise<{ imageId: string; leaseExpiresAt: Date }> {
  const { actor } = opts;
  return await db.transaction(async (tx) => {
    const conditions = [eq(reads.userId, actor.id)];
    if (opts.imageId) conditions.push(eq(reads.imageId, opts.imageId));
    if (opts.datasetId) conditions.push(eq(reads.datasetId, opts.datasetId));
    const [last] = await tx
      .select(readColumns)
      .from(reads)
      .where(and(...conditions))
      .orderBy(desc(reads.createdAt))
      .limit(1)
      .for("update");
    if (!last) throw notFound("a read to undo");
    const until = last.leaseExpiresAt;
    if (!until || until.getTime() <= Date.now())
      throw new ServiceError(
        "PRECONDITION_FAILED",
        "too late to undo: the lease has expired (change the read instead)",
      );
    // Lock the image against a concurrent adjudication, then check it has none.
    await tx.execute(sql`select 1 from images where id = ${last.imageId} for update`);
    if (await hasGold(tx, last.imageId))
      throw new ServiceError("CONFLICT", "a lead has adjudicated this image; it can no longer be undone");
    const lease = await tx.execute<{ expires_at: Date }>(sql`
      insert into leases (image_id, user_id, dataset_id, expires_at, created_at)
      values (${last.imageId}, ${actor.id}, ${last.datasetId}, ${until.toISOString()}, now())
      on conflict (image_id) do update
        set user_id = excluded.user_id, expires_at = excluded.expires_at, created_at = excluded.created_at
        where leases.expires_at <= now() or leases.user_id = excluded.user_id
      returning expires_at`);
    if (lease.rows.length === 0)
      throw new ServiceError("CONFLICT", "another annotator holds this image now; change the read instead");
    await tx.delete(reads).where(and(eq(reads.id, last.id), eq(reads.userId, actor.id)));
    if (last.kind === "read")
      await tx
        .update(images)
        .set({ readsNeeded: sql`${images.readsNeeded} + 1` })
        .where(eq(images.id, last.imageId));
    await recordAudit(tx, {
      actorId: actor.id,
      action: "read.undo",
      resourceType: "read",
      resourceId: last.id,
      datasetId: last.datasetId,
      details: { imageId: last.imageId, kind: last.kind, gate: last.gate, findings: last.findings },
    });
    return { imageId: last.imageId, leaseExpiresAt: until };
  });
}

export interface ChangeReadOptions {
  actor: Actor;
  imageId: string;
  gate: GateValue;
  findings: Record<string, FindingValue>;
  flagged?: boolean;
  flagReason?: string;
  /** Added to the read's time spent. */
  timeSpentMs?: number;
}

/** Changes the caller's read (a skip becomes a read) until the image has a gold label. */
export async function changeRead(db: DbOrTx, opts: ChangeReadOptions): Promise<ReadRecord> {
  const { actor, imageId } = opts;
  return await db.transaction(async (tx) => {
    const [before] = await tx
      .select(readColumns)
      .from(reads)
      .where(and(eq(reads.imageId, imageId), eq(reads.userId, actor.id)))
      .for("update");
    if (!before) throw notFound("your read of this image");
    // The image row lock serialises this with adjudicate(), which updates the same row.
    await tx.execute(sql`select 1 from images where id = ${imageId} for share`);
    if (await hasGold(tx, imageId))
      throw new ServiceError("CONFLICT", "a lead has adjudicated this image; the read can no longer change");
    const label = validateLabel(await schemaOf(tx, before.datasetId), opts.gate, opts.findings);
    const flagged = opts.flagged ?? before.flagged;
    const [row] = await tx
      .update(reads)
      .set({
        kind: "read",
        gate: label.gate,
        findings: label.findings,
        skipReason: null,
        flagged,
        flagReason: flagged ? (opts.flagReason ?? before.flagReason) : null,
        timeSpentMs: checkTime(before.timeSpentMs + (opts.timeSpentMs ?? 0)),
        updatedAt: sql`now()`,
      })
      .where(and(eq(reads.id, before.id), eq(reads.userId, actor.id)))
      .returning(readColumns);
    if (!row) throw notFound("your read of this image");
    if (before.kind === "skip")
      await tx
        .update(images)
        .set({ readsNeeded: sql`greatest(${images.readsNeeded} - 1, 0)` })
        .where(eq(images.id, imageId));
    await recordAudit(tx, {
      actorId: actor.id,
      action: "read.change",
      resourceType: "read",
      resourceId: row.id,
      datasetId: row.datasetId,
      details: {
        imageId,
        before: { kind: before.kind, gate: before.gate, findings: before.findings },
        after: { gate: label.gate, findings: label.findings },
      },
    });
    return row;
  });
}

export interface MyReadsOptions {
  actor: Actor;
  datasetId?: string;
  kind?: "read" | "skip";
  gate?: GateValue;
  flagged?: boolean;
  /** Only reads whose image has (true) or has not (false) a gold label. */
  adjudicated?: boolean;
  since?: Date;
  until?: Date;
  limit?: number;
  offset?: number;
}

export interface MyRead extends ReadRecord {
  thumbnailKey: string;
  originalFilename: string;
  adjudicated: boolean;
  canUndo: boolean;
  canChange: boolean;
}

/** The caller's reads, newest first, filtered and paged; `total` counts all matches. */
export async function myReads(db: DbOrTx, opts: MyReadsOptions): Promise<{ items: MyRead[]; total: number }> {
  const limit = Math.min(Math.max(opts.limit ?? 50, 1), 500);
  const offset = Math.max(opts.offset ?? 0, 0);
  const gold = sql<boolean>`exists (select 1 from gold_labels g where g.image_id = ${reads.imageId} and g.superseded_at is null)`;
  const conditions = [eq(reads.userId, opts.actor.id)];
  if (opts.datasetId) conditions.push(eq(reads.datasetId, opts.datasetId));
  if (opts.kind) conditions.push(eq(reads.kind, opts.kind));
  if (opts.gate) conditions.push(eq(reads.gate, opts.gate));
  if (opts.flagged !== undefined) conditions.push(eq(reads.flagged, opts.flagged));
  if (opts.since) conditions.push(gte(reads.createdAt, opts.since));
  if (opts.until) conditions.push(lt(reads.createdAt, opts.until));
  if (opts.adjudicated !== undefined) conditions.push(opts.adjudicated ? gold : sql`not ${gold}`);
  const where = and(...conditions);
  const rows = await db
    .select({
      ...readColumns,
      thumbnailKey: images.thumbnailKey,
      originalFilename: images.originalFilename,
      adjudicated: gold,
    })
    .from(reads)
    .innerJoin(images, eq(images.id, reads.imageId))
    .where(where)
    .orderBy(desc(reads.createdAt), desc(reads.id))
    .limit(limit)
    .offset(offset);
  const [total] = await db.select({ n: count() }).from(reads).where(where);
  const now = Date.now();
  return {
    items: rows.map((r) => ({
      ...r,
      adjudicated: Boolean(r.adjudicated),
      canUndo: !r.adjudicated && r.leaseExpiresAt !== null && r.leaseExpiresAt.getTime() > now,
      canChange: !r.adjudicated,
    })),
    total: total?.n ?? 0,
  };
}
