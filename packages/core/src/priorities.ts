/**
 * Queue ranking: writes images.priority for the images still in the queue (reads_needed > 0).
 *
 * With a model version: its predictions are scored by a query strategy of @xray/ml/selection
 * (entropy, margin, least-confidence, random, or entropy+kcenter: the most uncertain
 * candidateFactor x batchSize images are shortlisted and a diverse batch of batchSize is picked from
 * them by k-center on the version's embeddings, with a sample of already-read images as existing
 * centres). The chosen batch gets the top priorities in pick order, (1, 2]; everything else follows
 * by score, (0, 1]; queue images the version did not score get 0.
 *
 * Cold start (no version): "random" gives every image a seeded pseudo-random priority in [0, 1)
 * computed in SQL from md5(seed, image id), so no rows travel; "cold-start" does the same and then
 * puts a k-center batch picked on the self-supervised embeddings of the latest version that has
 * embeddings (a seeded sample of at most maxDiversityPool images) on top.
 *
 * Writes go in short transactions of WRITE_CHUNK rows (UPDATE ... FROM unnest(ids, priorities)), so
 * the queue keeps serving while a million rows are re-ranked: nextImage skips rows that are locked
 * for the few milliseconds a chunk takes.
 */
import { type DbOrTx, datasets, type LabelSchema } from "@xray/db";
import { type HeadCombine, kCenterGreedy, priorityScores, topK } from "@xray/ml/selection";
import { eq, sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { notFound, ServiceError } from "./errors";

export const RANK_STRATEGIES = [
  "entropy",
  "margin",
  "least-confidence",
  "entropy+kcenter",
  "kcenter",
  "random",
  "cold-start",
] as const;
export type RankStrategy = (typeof RANK_STRATEGIES)[number];

export interface RankQueueOptions {
  datasetId: string;
  /** The version whose predictions rank the queue; default the active one; null forces a cold start. */
  versionId?: string | null;
  /** Default: entropy+kcenter with a version (entropy when it has no embeddings), cold-start without. */
  strategy?: RankStrategy;
  /** Size of the diverse batch put on top (default 100). */
  batchSize?: number;
  seed?: number;
  combine?: HeadCombine;
  /** entropy+kcenter: shortlist size as a multiple of batchSize (default 10). */
  candidateFactor?: number;
  /** cold-start / kcenter: most images sampled for k-center (default 20,000). */
  maxDiversityPool?: number;
  actor?: Actor | null;
}

export interface RankQueueResult {
  datasetId: string;
  versionId: string | null;
  /** The strategy actually used (a diversity strategy falls back when there are no embeddings). */
  strategy: RankStrategy;
  /** Queue images given a priority from the strategy. */
  ranked: number;
  /** Queue images the version had no prediction for (priority 0). */
  unscored: number;
  /** The diverse batch, highest priority first (empty for pure uncertainty or random). */
  batch: string[];
  ms: number;
}

const WRITE_CHUNK = 5000;
const READ_PAGE = 50_000;
const LABELLED_CENTRES = 2000;

const uuidArray = (ids: string[]) => `{${ids.join(",")}}`;
const floatArray = (xs: ArrayLike<number>) =>
  `{${Array.from(xs, (x) => (Number.isFinite(x) ? x : 0)).join(",")}}`;
/** A seeded pseudo-random number in [0, 1) per image, computed by PostgreSQL. */
const hashRandom = (seed: number, id: ReturnType<typeof sql>) =>
  sql`(('x' || substr(md5(${String(seed)} || ${id}::text), 1, 12))::bit(48)::bigint::float8 / 281474976710656.0)`;

/** Writes priorities in short chunks (each its own statement, so each its own transaction). */
async function writePriorities(db: DbOrTx, datasetId: string, ids: string[], priorities: ArrayLike<number>) {
  for (let start = 0; start < ids.length; start += WRITE_CHUNK) {
    const end = Math.min(start + WRITE_CHUNK, ids.length);
    const chunkIds = ids.slice(start, end);
    const chunkP = Array.prototype.slice.call(priorities, start, end) as number[];
    await db.execute(sql`
      update images set priority = u.p
      from unnest(${uuidArray(chunkIds)}::uuid[], ${floatArray(chunkP)}::float8[]) as u(id, p)
      where images.id = u.id and images.dataset_id = ${datasetId}`);
  }
}

/** Seeded random priorities for the whole queue, in id-ordered chunks, nothing leaves the database. */
async function writeRandom(db: DbOrTx, datasetId: string, seed: number): Promise<number> {
  let last = "00000000-0000-0000-0000-000000000000";
  let total = 0;
  for (;;) {
    const res = await db.execute<{ n: string; last: string | null }>(sql`
      with chunk as (
        select id from images where dataset_id = ${datasetId} and reads_needed > 0 and id > ${last}::uuid
        order by id limit ${WRITE_CHUNK}
      ), upd as (
        update images i set priority = ${hashRandom(seed, sql`i.id`)}
        from chunk where i.id = chunk.id
        returning i.id
      )
      select (select count(*) from upd) as n, (select id::text from chunk order by id desc limit 1) as last`);
    const row = res.rows[0];
    const n = Number(row?.n ?? 0);
    total += n;
    if (!row?.last || n < WRITE_CHUNK) return total;
    last = row.last;
  }
}

async function schemaOf(db: DbOrTx, datasetId: string): Promise<LabelSchema> {
  const [row] = await db
    .select({ labelSchema: datasets.labelSchema })
    .from(datasets)
    .where(eq(datasets.id, datasetId));
  if (!row) throw notFound("dataset");
  return row.labelSchema;
}

interface Pool {
  ids: string[];
  heads: string[];
  /** probs[h][i] */
  probs: Float64Array[];
}

/** The version's probabilities for every queue image it scored, paged by image id. */
async function loadPool(
  db: DbOrTx,
  datasetId: string,
  versionId: string,
  schema: LabelSchema,
): Promise<Pool> {
  const schemaHeads = [schema.gate.key, ...schema.findings.map((f) => f.key)];
  const ids: string[] = [];
  const rows: Record<string, number>[] = [];
  let last = "00000000-0000-0000-0000-000000000000";
  for (;;) {
    const res = await db.execute<{ image_id: string; probs: Record<string, number> }>(sql`
      select p.image_id, p.probs from predictions p join images i on i.id = p.image_id
      where p.version_id = ${versionId} and i.dataset_id = ${datasetId} and i.reads_needed > 0
        and p.image_id > ${last}::uuid
      order by p.image_id limit ${READ_PAGE}`);
    for (const r of res.rows) {
      ids.push(r.image_id);
      rows.push(r.probs);
    }
    const tail = res.rows[res.rows.length - 1];
    if (!tail || res.rows.length < READ_PAGE) break;
    last = tail.image_id;
  }
  const heads = schemaHeads.filter((h) => rows.some((r) => typeof r[h] === "number"));
  const probs = heads.map((h) => {
    const a = new Float64Array(rows.length);
    // A head a prediction lacks counts as a confident negative: it adds no uncertainty.
    rows.forEach((r, i) => {
      const v = r[h];
      a[i] = typeof v === "number" && Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
    });
    return a;
  });
  return { ids, heads, probs };
}

/** Embeddings of the given images in a version (rows without one are left out). */
async function loadEmbeddings(
  db: DbOrTx,
  versionId: string,
  ids: string[],
): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (let start = 0; start < ids.length; start += READ_PAGE) {
    const res = await db.execute<{ image_id: string; embedding: number[] }>(sql`
      select image_id, embedding from predictions
      where version_id = ${versionId} and image_id = any(${uuidArray(ids.slice(start, start + READ_PAGE))}::uuid[])
        and embedding is not null`);
    for (const r of res.rows) out.set(r.image_id, Float32Array.from(r.embedding));
  }
  return out;
}

/** Embeddings of a seeded sample of already-read images: the centres a new batch should stay away from. */
async function labelledCentres(
  db: DbOrTx,
  datasetId: string,
  versionId: string,
  seed: number,
): Promise<Map<string, Float32Array>> {
  const res = await db.execute<{ image_id: string; embedding: number[] }>(sql`
    select p.image_id, p.embedding from predictions p join images i on i.id = p.image_id
    where p.version_id = ${versionId} and i.dataset_id = ${datasetId} and i.reads_needed = 0
      and p.embedding is not null
    order by ${hashRandom(seed, sql`p.image_id`)} limit ${LABELLED_CENTRES}`);
  return new Map(res.rows.map((r) => [r.image_id, Float32Array.from(r.embedding)]));
}

/** The rank order as priorities: batch (1, 2] in pick order, the rest (0, 1] by descending score. */
function toPriorities(n: number, batch: number[], scores: Float64Array): Float64Array {
  const out = new Float64Array(n);
  const inBatch = new Uint8Array(n);
  const b = Math.max(1, batch.length);
  batch.forEach((i, rank) => {
    out[i] = 1 + (b - rank) / b;
    inBatch[i] = 1;
  });
  const rest: number[] = [];
  for (let i = 0; i < n; i++) if (!inBatch[i]) rest.push(i);
  rest.sort((x, y) => (scores[y] as number) - (scores[x] as number) || x - y);
  const m = Math.max(1, rest.length);
  rest.forEach((i, rank) => {
    out[i] = (m - rank) / m;
  });
  return out;
}

/** The latest version of the dataset with embeddings for queue images (the cold start's encoder). */
async function encoderVersion(db: DbOrTx, datasetId: string): Promise<string | null> {
  const res = await db.execute<{ id: string }>(sql`
    select v.id from model_versions v
    where v.dataset_id = ${datasetId} and exists (
      select 1 from predictions p where p.version_id = v.id and p.embedding is not null)
    order by v.number desc limit 1`);
  return res.rows[0]?.id ?? null;
}

/** A seeded sample of queue images that have an embedding in the version. */
async function sampleWithEmbeddings(
  db: DbOrTx,
  datasetId: string,
  versionId: string,
  seed: number,
  limit: number,
): Promise<Map<string, Float32Array>> {
  const res = await db.execute<{ image_id: string; embedding: number[] }>(sql`
    select p.image_id, p.embedding from predictions p join images i on i.id = p.image_id
    where p.version_id = ${versionId} and i.dataset_id = ${datasetId} and i.reads_needed > 0
      and p.embedding is not null
    order by ${hashRandom(seed, sql`p.image_id`)} limit ${limit}`);
  return new Map(res.rows.map((r) => [r.image_id, Float32Array.from(r.embedding)]));
}

/**
 * k-center batch over a sample of queue images, with a sample of read images as existing centres.
 * Returns image ids in pick order.
 */
async function diverseBatch(
  db: DbOrTx,
  datasetId: string,
  versionId: string,
  opts: { seed: number; batchSize: number; maxPool: number },
): Promise<string[]> {
  const pool = await sampleWithEmbeddings(db, datasetId, versionId, opts.seed, opts.maxPool);
  if (pool.size === 0 || opts.batchSize === 0) return [];
  const centres = await labelledCentres(db, datasetId, versionId, opts.seed);
  const ids = [...pool.keys(), ...centres.keys()];
  const rows = [...pool.values(), ...centres.values()];
  const dim = (rows[0] as Float32Array).length;
  const usable = rows.every((r) => r.length === dim);
  if (!usable) throw new ServiceError("PRECONDITION_FAILED", "the version's embeddings differ in length");
  const centreIdx = Array.from({ length: centres.size }, (_, i) => pool.size + i);
  const r = kCenterGreedy(rows, {
    k: Math.min(opts.batchSize, pool.size),
    candidates: Array.from({ length: pool.size }, (_, i) => i),
    centres: centreIdx,
    seed: opts.seed,
  });
  return r.selected.map((i) => ids[i] as string);
}

/** Re-ranks the dataset's queue (see the module comment). Audited as queue.rank. */
export async function rankQueue(db: DbOrTx, opts: RankQueueOptions): Promise<RankQueueResult> {
  const started = performance.now();
  const { datasetId } = opts;
  const schema = await schemaOf(db, datasetId);
  const seed = opts.seed ?? 0;
  const batchSize = opts.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 0)
    throw new ServiceError("BAD_REQUEST", "batchSize must be a non-negative integer");
  const maxPool = opts.maxDiversityPool ?? 20_000;
  let versionId: string | null;
  if (opts.versionId === undefined) {
    const active = await db.execute<{ id: string }>(
      sql`select id from model_versions where dataset_id = ${datasetId} and is_active`,
    );
    versionId = active.rows[0]?.id ?? null;
  } else versionId = opts.versionId;
  if (versionId) {
    const res = await db.execute(
      sql`select 1 from model_versions where id = ${versionId} and dataset_id = ${datasetId}`,
    );
    if (res.rows.length === 0) throw notFound("model version");
  }

  let strategy: RankStrategy;
  let ranked = 0;
  let unscored = 0;
  let batch: string[] = [];

  if (!versionId || opts.strategy === "random" || opts.strategy === "cold-start") {
    strategy = opts.strategy === "random" ? "random" : "cold-start";
    if (strategy !== "random" && opts.strategy !== undefined && opts.strategy !== "cold-start")
      throw new ServiceError("BAD_REQUEST", `strategy ${opts.strategy} needs a model version`);
    ranked = await writeRandom(db, datasetId, seed);
    if (strategy === "cold-start") {
      const encoder = versionId ?? (await encoderVersion(db, datasetId));
      if (!encoder) strategy = "random";
      else {
        batch = await diverseBatch(db, datasetId, encoder, { seed, batchSize, maxPool });
        const b = Math.max(1, batch.length);
        await writePriorities(
          db,
          datasetId,
          batch,
          batch.map((_, rank) => 1 + (b - rank) / b),
        );
      }
    }
  } else {
    const pool = await loadPool(db, datasetId, versionId, schema);
    const n = pool.ids.length;
    const requested = opts.strategy ?? "entropy+kcenter";
    strategy = requested;
    let scores: Float64Array;
    if (n === 0) scores = new Float64Array(0);
    else if (requested === "kcenter") {
      // Diversity only: a k-center batch on top, then a seeded random order.
      scores = priorityScores("random", { probs: pool.probs }, { batchSize: 0, seed });
      batch = await diverseBatch(db, datasetId, versionId, { seed, batchSize, maxPool });
    } else if (requested === "entropy+kcenter") {
      const gateHead = pool.heads.indexOf(schema.gate.key);
      const common = { seed, combine: opts.combine, gateHead: gateHead >= 0 ? gateHead : undefined };
      scores = priorityScores(
        "entropy",
        { probs: pool.probs, gateHead: common.gateHead },
        { batchSize: 0, seed, combine: opts.combine },
      );
      const factor = opts.candidateFactor ?? 10;
      const shortlist = topK(scores, Math.ceil(factor * batchSize));
      const emb = await loadEmbeddings(
        db,
        versionId,
        shortlist.map((i) => pool.ids[i] as string),
      );
      const withEmb = shortlist.filter((i) => emb.has(pool.ids[i] as string));
      if (withEmb.length === 0 || batchSize === 0) strategy = "entropy";
      else {
        const centres = await labelledCentres(db, datasetId, versionId, seed);
        const subEmb = [
          ...withEmb.map((i) => emb.get(pool.ids[i] as string) as Float32Array),
          ...centres.values(),
        ];
        const subProbs = pool.probs.map((p) => {
          const a = new Float64Array(subEmb.length).fill(0);
          withEmb.forEach((i, j) => {
            a[j] = p[i] as number;
          });
          return a;
        });
        const labelled = Array.from({ length: centres.size }, (_, j) => withEmb.length + j);
        const sub = priorityScores(
          "entropy+kcenter",
          { probs: subProbs, embeddings: subEmb, gateHead: common.gateHead },
          {
            batchSize: Math.min(batchSize, withEmb.length),
            seed,
            combine: opts.combine,
            labelled,
            candidateFactor: Math.max(1, withEmb.length / Math.max(1, Math.min(batchSize, withEmb.length))),
          },
        );
        const chosen: number[] = [];
        for (let j = 0; j < withEmb.length; j++) if ((sub[j] as number) > 1) chosen.push(j);
        chosen.sort((x, y) => (sub[y] as number) - (sub[x] as number));
        batch = chosen.map((j) => pool.ids[withEmb[j] as number] as string);
      }
    } else if (requested === "entropy" || requested === "margin" || requested === "least-confidence") {
      const gateHead = pool.heads.indexOf(schema.gate.key);
      scores = priorityScores(
        requested,
        { probs: pool.probs, gateHead: gateHead >= 0 ? gateHead : undefined },
        { batchSize: 0, seed, combine: opts.combine },
      );
    } else throw new ServiceError("BAD_REQUEST", `unknown strategy ${requested}`);
    const index = new Map(pool.ids.map((id, i) => [id, i]));
    const batchIdx = batch.map((id) => index.get(id)).filter((i): i is number => i !== undefined);
    await writePriorities(db, datasetId, pool.ids, toPriorities(n, batchIdx, scores));
    ranked = n;
    const zeroed = await db.execute<{ n: string }>(sql`
      with upd as (
        update images i set priority = 0
        where i.dataset_id = ${datasetId} and i.reads_needed > 0
          and not exists (select 1 from predictions p where p.version_id = ${versionId} and p.image_id = i.id)
        returning 1
      ) select count(*) as n from upd`);
    unscored = Number(zeroed.rows[0]?.n ?? 0);
  }

  const result: RankQueueResult = {
    datasetId,
    versionId,
    strategy,
    ranked,
    unscored,
    batch,
    ms: Math.round(performance.now() - started),
  };
  await recordAudit(db, {
    actorId: opts.actor?.id ?? null,
    action: "queue.rank",
    resourceType: "dataset",
    resourceId: datasetId,
    datasetId,
    details: { versionId, strategy, ranked, unscored, batchSize: batch.length, seed, ms: result.ms },
  });
  return result;
}
