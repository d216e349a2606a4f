/**
 * Lead review: disagreement queues (reader vs reader, reader vs a confident model, flagged images),
 * the review item (all reads, the active version's output, gold with history), adjudication and its
 * revert, and agreement statistics (Cohen's kappa per annotator pair, Fleiss' kappa per head,
 * each annotator's sensitivity / specificity against gold, by week).
 *
 * Heads: the gate (keyed by the schema's gate key; abnormal = positive) and each finding. A read's
 * value for a finding is negative when its gate is normal, else what it says (missing = no value).
 * Images with a current gold label have been settled and leave the queues.
 */
import {
  type DbOrTx,
  type FindingValue,
  type GateValue,
  goldLabels,
  type LabelSchema,
  modelVersions,
} from "@xray/db";
import { cohensKappa, fleissKappa, fleissTable } from "@xray/ml/metrics";
import { and, desc, eq, sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { notFound, ServiceError } from "./errors";
import { validateLabel } from "./reads";

const LEADS = new Set(["lead", "admin"]);

function requireLead(actor: Actor): void {
  if (!LEADS.has(actor.role)) throw new ServiceError("FORBIDDEN", "only a lead can adjudicate");
}

async function datasetOf(
  db: DbOrTx,
  datasetId: string,
): Promise<{ labelSchema: LabelSchema; readsPerImage: number }> {
  const res = await db.execute<{ label_schema: LabelSchema; reads_per_image: number }>(
    sql`select label_schema, reads_per_image from datasets where id = ${datasetId}`,
  );
  const row = res.rows[0];
  if (!row) throw notFound("dataset");
  return { labelSchema: row.label_schema, readsPerImage: row.reads_per_image };
}

const headsOf = (schema: LabelSchema) => [schema.gate.key, ...schema.findings.map((f) => f.key)];
const textArray = (xs: string[]) =>
  `{${xs.map((x) => `"${x.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")}}`;

export type ReviewQueueKind = "readers" | "model" | "flagged";

export interface ReviewQueueItem {
  imageId: string;
  filename: string;
  thumbnailKey: string;
  reads: number;
  /** Heads in disagreement (schema order); empty for the flagged queue. */
  heads: string[];
  /** model queue: the strongest model confidence among the disagreements. */
  confidence: number | null;
  /** flagged queue: how many reads flag it, and their reasons. */
  flags: number;
  flagReasons: string[];
  lastActivity: Date;
}

export interface ReviewQueueOptions {
  datasetId: string;
  kind: ReviewQueueKind;
  /** model queue: the model counts as confident at p >= threshold or p <= 1 - threshold (default 0.9). */
  threshold?: number;
  limit?: number;
  offset?: number;
}

export interface ReviewQueue {
  items: ReviewQueueItem[];
  total: number;
  /** model queue: the active version compared against (null: none active, queue empty). */
  versionId: string | null;
}

interface QueueRow {
  image_id: string;
  heads: string[] | null;
  confidence: number | null;
  flags: string | number | null;
  flag_reasons: string[] | null;
  read_count: string | number;
  last_activity: Date;
  filename: string;
  thumbnail_key: string;
  total: string | number;
}

/** One of the three review queues, unsettled images only, most recent activity first (model: most confident first). */
export async function reviewQueue(db: DbOrTx, opts: ReviewQueueOptions): Promise<ReviewQueue> {
  const { labelSchema } = await datasetOf(db, opts.datasetId);
  const heads = headsOf(labelSchema);
  const findingKeys = textArray(labelSchema.findings.map((f) => f.key));
  const gateKey = labelSchema.gate.key;
  const limit = Math.min(Math.max(opts.limit ?? 50, 1), 500);
  const offset = Math.max(opts.offset ?? 0, 0);
  const unsettled = sql`not exists (select 1 from gold_labels g where g.image_id = r.image_id and g.superseded_at is null)`;
  // Every read's value per head: gate as positive/negative, normal => findings negative.
  const votes = sql`
    select r.image_id, r.user_id, ${gateKey}::text as head,
      case r.gate when 'abnormal' then 'positive' else 'negative' end as v
    from r
    union all
    select r.image_id, r.user_id, k.key,
      case when r.gate = 'normal' then 'negative' else r.findings->>k.key end
    from r cross join unnest(${findingKeys}::text[]) as k(key)`;
  let versionId: string | null = null;
  let body: ReturnType<typeof sql>;
  if (opts.kind === "readers") {
    body = sql`
      with r as (
        select * from reads r where r.dataset_id = ${opts.datasetId} and r.kind = 'read' and ${unsettled}
          and r.image_id in (
            select image_id from reads where dataset_id = ${opts.datasetId} and kind = 'read'
            group by image_id having count(*) >= 2)
      ), votes as (${votes}),
      dis as (
        select image_id, array_agg(head) as heads from (
          select image_id, head from votes where v is not null
          group by image_id, head having count(distinct v) > 1
        ) x group by image_id
      )
      select dis.image_id, dis.heads, null::float8 as confidence, null as flags, null::text[] as flag_reasons,
        (select count(*) from r where r.image_id = dis.image_id) as read_count,
        (select max(r.updated_at) from r where r.image_id = dis.image_id) as last_activity,
        i.original_filename as filename, i.thumbnail_key, count(*) over () as total
      from dis join images i on i.id = dis.image_id
      order by last_activity desc, dis.image_id
      limit ${limit} offset ${offset}`;
  } else if (opts.kind === "model") {
    const t = opts.threshold ?? 0.9;
    if (!(t > 0.5 && t <= 1)) throw new ServiceError("BAD_REQUEST", "threshold must be in (0.5, 1]");
    const [active] = await db
      .select({ id: modelVersions.id })
      .from(modelVersions)
      .where(and(eq(modelVersions.datasetId, opts.datasetId), eq(modelVersions.isActive, true)));
    if (!active) return { items: [], total: 0, versionId: null };
    versionId = active.id;
    body = sql`
      with r as (
        select * from reads r where r.dataset_id = ${opts.datasetId} and r.kind = 'read' and ${unsettled}
      ), votes as (${votes}),
      cmp as (
        select v.image_id, v.head, v.v, (p.probs->>v.head)::float8 as prob
        from votes v join predictions p on p.version_id = ${versionId} and p.image_id = v.image_id
        where v.v in ('positive', 'negative') and p.probs ? v.head
      ), dis as (
        select image_id, array_agg(distinct head) as heads, max(greatest(prob, 1 - prob)) as confidence
        from cmp where (prob >= ${t}::float8 and v = 'negative') or (prob <= 1 - ${t}::float8 and v = 'positive')
        group by image_id
      )
      select dis.image_id, dis.heads, dis.confidence, null as flags, null::text[] as flag_reasons,
        (select count(*) from r where r.image_id = dis.image_id) as read_count,
        (select max(r.updated_at) from r where r.image_id = dis.image_id) as last_activity,
        i.original_filename as filename, i.thumbnail_key, count(*) over () as total
      from dis join images i on i.id = dis.image_id
      order by dis.confidence desc, dis.image_id
      limit ${limit} offset ${offset}`;
  } else {
    body = sql`
      with f as (
        select r.image_id, count(*) as flags,
          array_remove(array_agg(r.flag_reason order by r.updated_at), null) as flag_reasons,
          max(r.updated_at) as last_activity
        from reads r where r.dataset_id = ${opts.datasetId} and r.flagged and ${unsettled}
        group by r.image_id
      )
      select f.image_id, null::text[] as heads, null::float8 as confidence, f.flags, f.flag_reasons,
        (select count(*) from reads r where r.image_id = f.image_id and r.kind = 'read') as read_count,
        f.last_activity, i.original_filename as filename, i.thumbnail_key, count(*) over () as total
      from f join images i on i.id = f.image_id
      order by f.last_activity desc, f.image_id
      limit ${limit} offset ${offset}`;
  }
  const res = await db.execute<QueueRow & Record<string, unknown>>(body);
  const order = new Map(heads.map((h, i) => [h, i]));
  return {
    items: res.rows.map((r) => ({
      imageId: r.image_id,
      filename: r.filename,
      thumbnailKey: r.thumbnail_key,
      reads: Number(r.read_count),
      heads: [...(r.heads ?? [])].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0)),
      confidence: r.confidence,
      flags: Number(r.flags ?? 0),
      flagReasons: r.flag_reasons ?? [],
      lastActivity: new Date(r.last_activity),
    })),
    total: Number(res.rows[0]?.total ?? 0),
    versionId,
  };
}

export interface ReviewItem {
  image: {
    id: string;
    datasetId: string;
    filename: string;
    normalizedKey: string;
    thumbnailKey: string;
    width: number;
    height: number;
    species: string | null;
    bodyPart: string | null;
    view: string | null;
    readsNeeded: number;
  };
  labelSchema: LabelSchema;
  reads: {
    id: string;
    userId: string;
    annotator: string;
    email: string;
    kind: "read" | "skip";
    gate: GateValue | null;
    findings: Record<string, FindingValue>;
    flagged: boolean;
    flagReason: string | null;
    skipReason: string | null;
    timeSpentMs: number;
    assisted: boolean;
    createdAt: Date;
    updatedAt: Date;
  }[];
  model: {
    versionId: string;
    number: number;
    probs: Record<string, number>;
    uncertainty: number;
    heatmaps: Record<string, string>;
  } | null;
  gold: GoldRecord | null;
  goldHistory: GoldRecord[];
}

export type GoldRecord = typeof goldLabels.$inferSelect;

/** Everything a lead needs to settle an image. Optionally scoped to a dataset (NOT_FOUND outside it). */
export async function reviewItem(
  db: DbOrTx,
  opts: { imageId: string; datasetId?: string },
): Promise<ReviewItem> {
  const img = await db.execute<{
    id: string;
    dataset_id: string;
    original_filename: string;
    normalized_key: string;
    thumbnail_key: string;
    width: number;
    height: number;
    species: string | null;
    body_part: string | null;
    view: string | null;
    reads_needed: number;
    label_schema: LabelSchema;
  }>(sql`
    select i.id, i.dataset_id, i.original_filename, i.normalized_key, i.thumbnail_key, i.width, i.height,
      i.species, i.body_part, i.view, i.reads_needed, d.label_schema
    from images i join datasets d on d.id = i.dataset_id
    where i.id = ${opts.imageId} ${opts.datasetId ? sql`and i.dataset_id = ${opts.datasetId}` : sql``}`);
  const i = img.rows[0];
  if (!i) throw notFound("image");
  const readRows = await db.execute<{
    id: string;
    user_id: string;
    name: string;
    email: string;
    kind: "read" | "skip";
    gate: GateValue | null;
    findings: Record<string, FindingValue>;
    flagged: boolean;
    flag_reason: string | null;
    skip_reason: string | null;
    time_spent_ms: number;
    assisted: boolean;
    created_at: Date;
    updated_at: Date;
  }>(sql`
    select r.id, r.user_id, u.name, u.email, r.kind, r.gate, r.findings, r.flagged, r.flag_reason, r.skip_reason,
      r.time_spent_ms, r.assisted, r.created_at, r.updated_at
    from reads r join users u on u.id = r.user_id
    where r.image_id = ${opts.imageId} order by r.created_at, r.id`);
  const model = await db.execute<{
    version_id: string;
    number: number;
    probs: Record<string, number>;
    uncertainty: number;
    heatmaps: Record<string, string>;
  }>(sql`
    select p.version_id, v.number, p.probs, p.uncertainty, p.heatmaps
    from model_versions v join predictions p on p.version_id = v.id and p.image_id = ${opts.imageId}
    where v.dataset_id = ${i.dataset_id} and v.is_active`);
  const history = await db
    .select()
    .from(goldLabels)
    .where(eq(goldLabels.imageId, opts.imageId))
    .orderBy(desc(goldLabels.createdAt), desc(goldLabels.id));
  const m = model.rows[0];
  return {
    image: {
      id: i.id,
      datasetId: i.dataset_id,
      filename: i.original_filename,
      normalizedKey: i.normalized_key,
      thumbnailKey: i.thumbnail_key,
      width: i.width,
      height: i.height,
      species: i.species,
      bodyPart: i.body_part,
      view: i.view,
      readsNeeded: i.reads_needed,
    },
    labelSchema: i.label_schema,
    reads: readRows.rows.map((r) => ({
      id: r.id,
      userId: r.user_id,
      annotator: r.name,
      email: r.email,
      kind: r.kind,
      gate: r.gate,
      findings: r.findings,
      flagged: r.flagged,
      flagReason: r.flag_reason,
      skipReason: r.skip_reason,
      timeSpentMs: r.time_spent_ms,
      assisted: r.assisted,
      createdAt: new Date(r.created_at),
      updatedAt: new Date(r.updated_at),
    })),
    model: m
      ? {
          versionId: m.version_id,
          number: m.number,
          probs: m.probs,
          uncertainty: m.uncertainty,
          heatmaps: m.heatmaps,
        }
      : null,
    gold: history.find((g) => g.supersededAt === null) ?? null,
    goldHistory: history,
  };
}

export interface AdjudicateOptions {
  actor: Actor;
  imageId: string;
  gate: GateValue;
  findings: Record<string, FindingValue>;
  reason?: string;
}

/**
 * Sets the image's gold label (superseding the current one, kept as history); the image leaves the
 * queue (readsNeeded 0) and its reads stop training. Lead or admin only.
 */
export async function adjudicate(db: DbOrTx, opts: AdjudicateOptions): Promise<GoldRecord> {
  requireLead(opts.actor);
  return await db.transaction(async (tx) => {
    // Locking the image row serialises adjudications of one image (and changeRead / undo, which lock it too).
    const locked = await tx.execute<{ dataset_id: string; label_schema: LabelSchema }>(sql`
      select i.dataset_id, d.label_schema from images i join datasets d on d.id = i.dataset_id
      where i.id = ${opts.imageId} for update of i`);
    const img = locked.rows[0];
    if (!img) throw notFound("image");
    const label = validateLabel(img.label_schema, opts.gate, opts.findings);
    const previous = await tx
      .update(goldLabels)
      .set({ supersededAt: sql`now()` })
      .where(and(eq(goldLabels.imageId, opts.imageId), sql`${goldLabels.supersededAt} is null`))
      .returning({ id: goldLabels.id });
    const [gold] = await tx
      .insert(goldLabels)
      .values({
        imageId: opts.imageId,
        datasetId: img.dataset_id,
        gate: label.gate,
        findings: label.findings,
        adjudicatedBy: opts.actor.id,
        reason: opts.reason?.trim() ?? "",
      })
      .returning();
    if (!gold) throw new Error("gold label insert returned nothing");
    await tx.execute(sql`update images set reads_needed = 0 where id = ${opts.imageId}`);
    await recordAudit(tx, {
      actorId: opts.actor.id,
      action: "gold.adjudicate",
      resourceType: "image",
      resourceId: opts.imageId,
      datasetId: img.dataset_id,
      details: {
        goldId: gold.id,
        previousGoldId: previous[0]?.id ?? null,
        gate: label.gate,
        findings: label.findings,
        reason: gold.reason,
      },
    });
    return gold;
  });
}

/**
 * Withdraws the image's current gold label (kept in the history with the reason). The image goes
 * back to its reads' consensus and, if it still lacks reads, back into the queue.
 */
export async function revertGold(
  db: DbOrTx,
  opts: { actor: Actor; imageId: string; reason: string },
): Promise<GoldRecord> {
  requireLead(opts.actor);
  const reason = opts.reason.trim();
  if (!reason) throw new ServiceError("BAD_REQUEST", "reverting a gold label needs a reason");
  return await db.transaction(async (tx) => {
    const locked = await tx.execute<{ dataset_id: string }>(
      sql`select dataset_id from images where id = ${opts.imageId} for update`,
    );
    if (!locked.rows[0]) throw notFound("image");
    const [revoked] = await tx
      .update(goldLabels)
      .set({ supersededAt: sql`now()`, revokedReason: reason })
      .where(and(eq(goldLabels.imageId, opts.imageId), sql`${goldLabels.supersededAt} is null`))
      .returning();
    if (!revoked) throw notFound("gold label");
    await tx.execute(sql`
      update images i set reads_needed = greatest(d.reads_per_image -
        (select count(*) from reads r where r.image_id = i.id and r.kind = 'read'), 0)
      from datasets d where d.id = i.dataset_id and i.id = ${opts.imageId}`);
    await recordAudit(tx, {
      actorId: opts.actor.id,
      action: "gold.revert",
      resourceType: "image",
      resourceId: opts.imageId,
      datasetId: revoked.datasetId,
      details: { goldId: revoked.id, reason },
    });
    return revoked;
  });
}

// ---------------------------------------------------------------------------------------------
// Agreement statistics

/** Category codes: gate normal 0 / abnormal 1; findings negative 0 / positive 1 / uncertain 2. */
const CODE: Record<string, number> = { negative: 0, positive: 1, uncertain: 2, normal: 0, abnormal: 1 };

export interface AgreementRead {
  imageId: string;
  userId: string;
  gate: GateValue;
  findings: Record<string, FindingValue>;
  createdAt: Date;
}

export interface AgreementGold {
  imageId: string;
  gate: GateValue;
  findings: Record<string, FindingValue>;
}

export interface PairKappa {
  head: string;
  userA: string;
  userB: string;
  /** Images both read with a value for the head. */
  n: number;
  kappa: number | null;
  observedAgreement: number | null;
}

export interface HeadFleiss {
  head: string;
  /** Reads per image in this group (Fleiss' kappa needs the same number for every image). */
  raters: number;
  items: number;
  kappa: number | null;
}

export interface VsGold {
  userId: string;
  head: string;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** Reads with "uncertain" on a head the gold label decides: not counted above. */
  uncertain: number;
  sensitivity: number | null;
  specificity: number | null;
}

export interface AgreementFigures {
  cohen: PairKappa[];
  fleiss: HeadFleiss[];
  vsGold: VsGold[];
}

export interface AgreementStats extends AgreementFigures {
  heads: string[];
  annotators: { userId: string; name: string; email: string; reads: number }[];
  /** The same figures over the reads made in each ISO week (Monday 00:00 UTC), oldest first. */
  weekly: ({ weekStart: string; reads: number } & AgreementFigures)[];
}

/** The value of a head in a read or gold label (see the module comment); undefined = none. */
function headValue(
  schema: LabelSchema,
  label: { gate: GateValue; findings: Record<string, FindingValue> },
  head: string,
) {
  if (head === schema.gate.key) return label.gate;
  if (label.gate === "normal") return "negative";
  return label.findings[head];
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** Agreement figures over the given reads (kind "read" only) and current gold labels (pure). */
export function computeAgreement(
  schema: LabelSchema,
  reads: AgreementRead[],
  gold: Map<string, AgreementGold>,
): AgreementFigures {
  const heads = headsOf(schema);
  const byImage = new Map<string, AgreementRead[]>();
  for (const r of reads) pushTo(byImage, r.imageId, r);
  const users = [...new Set(reads.map((r) => r.userId))].sort();
  const cohen: PairKappa[] = [];
  const fleiss: HeadFleiss[] = [];
  const vsGold: VsGold[] = [];
  for (const head of heads) {
    const categories = head === schema.gate.key ? [0, 1] : [0, 1, 2];
    // Cohen per pair.
    const pairs = new Map<string, { a: number[]; b: number[] }>();
    for (const rs of byImage.values()) {
      const vals = new Map<string, number>();
      for (const r of rs) {
        const v = headValue(schema, r, head);
        if (v !== undefined) vals.set(r.userId, CODE[v] as number);
      }
      const who = [...vals.keys()].sort();
      for (let x = 0; x < who.length; x++)
        for (let y = x + 1; y < who.length; y++) {
          const key = `${who[x]}|${who[y]}`;
          const p = pairs.get(key) ?? { a: [], b: [] };
          p.a.push(vals.get(who[x] as string) as number);
          p.b.push(vals.get(who[y] as string) as number);
          pairs.set(key, p);
        }
    }
    for (const [key, p] of pairs) {
      const [userA, userB] = key.split("|") as [string, string];
      const k = cohensKappa(p.a, p.b, { categories });
      cohen.push({
        head,
        userA,
        userB,
        n: p.a.length,
        kappa: finite(k.kappa),
        observedAgreement: finite(k.observedAgreement),
      });
    }
    // Fleiss per number of raters.
    const groups = new Map<number, number[][]>();
    for (const rs of byImage.values()) {
      const codes: number[] = [];
      for (const r of rs) {
        const v = headValue(schema, r, head);
        if (v !== undefined) codes.push(CODE[v] as number);
      }
      if (codes.length < 2) continue;
      pushTo(groups, codes.length, codes);
    }
    for (const [raters, items] of [...groups].sort((a, b) => a[0] - b[0])) {
      let kappa: number | null = null;
      try {
        kappa = finite(fleissKappa(fleissTable(items, categories)).kappa);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
      }
      fleiss.push({ head, raters, items: items.length, kappa });
    }
    // Each annotator against gold.
    for (const userId of users) {
      const c = { tp: 0, fp: 0, tn: 0, fn: 0, uncertain: 0 };
      for (const r of reads) {
        if (r.userId !== userId) continue;
        const g = gold.get(r.imageId);
        if (!g) continue;
        const truth = headValue(schema, g, head);
        const said = headValue(schema, r, head);
        if (truth === undefined || truth === "uncertain" || said === undefined) continue;
        const t = CODE[truth] === 1;
        if (said === "uncertain") c.uncertain++;
        else if (CODE[said] === 1) t ? c.tp++ : c.fp++;
        else t ? c.fn++ : c.tn++;
      }
      if (c.tp + c.fp + c.tn + c.fn + c.uncertain === 0) continue;
      vsGold.push({
        userId,
        head,
        ...c,
        sensitivity: c.tp + c.fn > 0 ? c.tp / (c.tp + c.fn) : null,
        specificity: c.tn + c.fp > 0 ? c.tn / (c.tn + c.fp) : null,
      });
    }
  }
  return { cohen, fleiss, vsGold };
}

/** Monday 00:00 UTC of the date's ISO week, as YYYY-MM-DD. */
export function weekStart(d: Date): string {
  const day = (d.getUTCDay() + 6) % 7;
  const monday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day));
  return monday.toISOString().slice(0, 10);
}

/** Agreement statistics of a dataset's reads, optionally within [since, until), overall and per week. */
export async function agreementStats(
  db: DbOrTx,
  opts: { datasetId: string; since?: Date; until?: Date },
): Promise<AgreementStats> {
  const { labelSchema } = await datasetOf(db, opts.datasetId);
  const res = await db.execute<{
    image_id: string;
    user_id: string;
    gate: GateValue;
    findings: Record<string, FindingValue>;
    created_at: Date;
    name: string;
    email: string;
  }>(sql`
    select r.image_id, r.user_id, r.gate, r.findings, r.created_at, u.name, u.email
    from reads r join users u on u.id = r.user_id
    where r.dataset_id = ${opts.datasetId} and r.kind = 'read'
      ${opts.since ? sql`and r.created_at >= ${opts.since.toISOString()}` : sql``}
      ${opts.until ? sql`and r.created_at < ${opts.until.toISOString()}` : sql``}
    order by r.created_at`);
  const goldRows = await db
    .select({ imageId: goldLabels.imageId, gate: goldLabels.gate, findings: goldLabels.findings })
    .from(goldLabels)
    .where(and(eq(goldLabels.datasetId, opts.datasetId), sql`${goldLabels.supersededAt} is null`));
  const gold = new Map(goldRows.map((g) => [g.imageId, g]));
  const reads: AgreementRead[] = res.rows.map((r) => ({
    imageId: r.image_id,
    userId: r.user_id,
    gate: r.gate,
    findings: r.findings,
    createdAt: new Date(r.created_at),
  }));
  const annotators = new Map<string, { userId: string; name: string; email: string; reads: number }>();
  for (const r of res.rows) {
    const a = annotators.get(r.user_id) ?? { userId: r.user_id, name: r.name, email: r.email, reads: 0 };
    a.reads++;
    annotators.set(r.user_id, a);
  }
  const weeks = new Map<string, AgreementRead[]>();
  for (const r of reads) {
    pushTo(weeks, weekStart(r.createdAt), r);
  }
  return {
    heads: headsOf(labelSchema),
    annotators: [...annotators.values()].sort((a, b) => a.email.localeCompare(b.email)),
    ...computeAgreement(labelSchema, reads, gold),
    weekly: [...weeks]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([w, rs]) => ({ weekStart: w, reads: rs.length, ...computeAgreement(labelSchema, rs, gold) })),
  };
}
