/**
 * Which labels train, and the labels export.
 *
 * Per image: the current gold label where a lead adjudicated (the reads are then ignored: a read a
 * lead overturned never trains), otherwise the consensus of the reads ("majority": more than half of
 * the reads agree; "unanimous": all of them). Skips never vote; an "uncertain" value is a vote for
 * nothing, so it can block a majority or unanimity but never trains; a finding left out of an
 * abnormal read is not a vote. A normal gate means every finding is negative.
 */
import { createHash } from "node:crypto";
import {
  type DbOrTx,
  datasets,
  type FindingValue,
  type GateValue,
  type ImageSplit,
  type LabelSchema,
  type LabelSnapshot,
} from "@xray/db";
import { eq, sql } from "drizzle-orm";
import { notFound } from "./errors";

export type Consensus = "majority" | "unanimous";

export interface TrainingLabel {
  imageId: string;
  split: ImageSplit;
  source: "gold" | "consensus";
  /** Domain form; null = no trainable value. */
  gate: GateValue | null;
  findings: Record<string, "positive" | "negative" | null>;
  /** Head key (gate key, then finding keys) -> 0/1 target; 0 where masked. */
  targets: Record<string, 0 | 1>;
  /** Head key -> 1 when the target trains, 0 when masked. */
  mask: Record<string, 0 | 1>;
}

export interface TrainingLabels {
  /** Head keys in model order: the gate's key first, then the findings in schema order. */
  heads: string[];
  labels: TrainingLabel[];
  snapshot: LabelSnapshot;
}

export interface TrainingLabelsOptions {
  datasetId: string;
  consensus?: Consensus;
  /** Only images of these splits (default all). */
  splits?: ImageSplit[];
}

type Vote = "positive" | "negative" | "uncertain";

/** The consensus of votes: "uncertain" and missing votes never produce a value. */
export function consensusOf(votes: Vote[], rule: Consensus): "positive" | "negative" | null {
  if (votes.length === 0) return null;
  let pos = 0;
  let neg = 0;
  for (const v of votes) {
    if (v === "positive") pos++;
    else if (v === "negative") neg++;
  }
  if (rule === "unanimous") {
    if (pos === votes.length) return "positive";
    if (neg === votes.length) return "negative";
    return null;
  }
  if (pos * 2 > votes.length) return "positive";
  if (neg * 2 > votes.length) return "negative";
  return null;
}

interface LabelInput {
  gate: GateValue;
  findings: Record<string, FindingValue>;
}

/** A read's or gold label's vote on one finding (normal gate: negative; missing: no vote). */
function findingVote(label: LabelInput, key: string): Vote | undefined {
  if (label.gate === "normal") return "negative";
  return label.findings[key];
}

/** Turns a gold label or a set of reads into one training label (pure; exported for tests). */
export function labelFor(
  schema: LabelSchema,
  input: { gold: LabelInput | null; reads: LabelInput[] },
  rule: Consensus,
): Pick<TrainingLabel, "source" | "gate" | "findings" | "targets" | "mask"> {
  const gateKey = schema.gate.key;
  const findings: Record<string, "positive" | "negative" | null> = {};
  let gate: GateValue | null;
  let source: "gold" | "consensus";
  if (input.gold) {
    const g = input.gold;
    source = "gold";
    gate = g.gate;
    for (const f of schema.findings) {
      const v = findingVote(g, f.key);
      findings[f.key] = v === "positive" || v === "negative" ? v : null;
    }
  } else {
    source = "consensus";
    const g = consensusOf(
      input.reads.map((r) => (r.gate === "abnormal" ? "positive" : "negative")),
      rule,
    );
    gate = g === null ? null : g === "positive" ? "abnormal" : "normal";
    for (const f of schema.findings) {
      const votes: Vote[] = [];
      for (const r of input.reads) {
        const v = findingVote(r, f.key);
        if (v !== undefined) votes.push(v);
      }
      findings[f.key] = consensusOf(votes, rule);
    }
  }
  const targets: Record<string, 0 | 1> = {};
  const mask: Record<string, 0 | 1> = {};
  targets[gateKey] = gate === "abnormal" ? 1 : 0;
  mask[gateKey] = gate === null ? 0 : 1;
  for (const f of schema.findings) {
    const v = findings[f.key] ?? null;
    targets[f.key] = v === "positive" ? 1 : 0;
    mask[f.key] = v === null ? 0 : 1;
  }
  return { source, gate, findings, targets, mask };
}

async function schemaOf(db: DbOrTx, datasetId: string): Promise<LabelSchema> {
  const [row] = await db
    .select({ labelSchema: datasets.labelSchema })
    .from(datasets)
    .where(eq(datasets.id, datasetId));
  if (!row) throw notFound("dataset");
  return row.labelSchema;
}

/** sha256 over the sorted "image head=value" lines of every unmasked target, plus per-head counts. */
export function labelSnapshot(heads: string[], labels: TrainingLabel[]): LabelSnapshot {
  const lines: string[] = [];
  const perHead: Record<string, { positive: number; negative: number }> = {};
  for (const h of heads) perHead[h] = { positive: 0, negative: 0 };
  for (const l of labels) {
    for (const h of heads) {
      if (l.mask[h] !== 1) continue;
      const t = l.targets[h] ?? 0;
      lines.push(`${l.imageId} ${h}=${t}`);
      const c = perHead[h];
      if (c) {
        if (t === 1) c.positive++;
        else c.negative++;
      }
    }
  }
  lines.sort();
  const hash = createHash("sha256").update(lines.join("\n")).digest("hex");
  return { count: labels.length, hash, perHead };
}

/**
 * The dataset's training labels: one entry per image with at least one trainable head, each with
 * per-head targets and masks, and the snapshot (count, hash, per-head counts) a version records.
 */
export async function trainingLabels(db: DbOrTx, opts: TrainingLabelsOptions): Promise<TrainingLabels> {
  const schema = await schemaOf(db, opts.datasetId);
  const rule = opts.consensus ?? "majority";
  const splitFilter =
    opts.splits && opts.splits.length > 0
      ? sql`and i.split = any(${`{${opts.splits.join(",")}}`}::image_split[])`
      : sql``;
  // One row per image that has a current gold label or at least one read (skips excluded).
  const res = await db.execute<{
    image_id: string;
    split: ImageSplit;
    gold_gate: GateValue | null;
    gold_findings: Record<string, FindingValue> | null;
    reads: { gate: GateValue; findings: Record<string, FindingValue> }[] | null;
  }>(sql`
    select i.id as image_id, i.split, g.gate as gold_gate, g.findings as gold_findings,
      case when g.id is null then (
        select jsonb_agg(jsonb_build_object('gate', r.gate, 'findings', r.findings) order by r.created_at)
        from reads r where r.image_id = i.id and r.kind = 'read'
      ) end as reads
    from images i
    left join gold_labels g on g.image_id = i.id and g.superseded_at is null
    where i.dataset_id = ${opts.datasetId} ${splitFilter}
      and (g.id is not null or exists (select 1 from reads r where r.image_id = i.id and r.kind = 'read'))
    order by i.id`);
  const heads = [schema.gate.key, ...schema.findings.map((f) => f.key)];
  const labels: TrainingLabel[] = [];
  for (const row of res.rows) {
    const gold = row.gold_gate !== null ? { gate: row.gold_gate, findings: row.gold_findings ?? {} } : null;
    const label = labelFor(schema, { gold, reads: row.reads ?? [] }, rule);
    if (!Object.values(label.mask).some((m) => m === 1)) continue;
    labels.push({ imageId: row.image_id, split: row.split, ...label });
  }
  return { heads, labels, snapshot: labelSnapshot(heads, labels) };
}

export interface ExportRow {
  imageId: string;
  filename: string;
  split: ImageSplit;
  reads: {
    annotator: string;
    kind: "read" | "skip";
    gate: GateValue | null;
    findings: Record<string, FindingValue>;
    flagged: boolean;
    flagReason: string | null;
    skipReason: string | null;
    timeSpentMs: number;
    at: string;
  }[];
  gold: {
    gate: GateValue;
    findings: Record<string, FindingValue>;
    adjudicatedBy: string;
    reason: string;
    at: string;
  } | null;
}

/** Every image of the dataset with a read or a current gold label: its reads and its gold label. */
export async function exportLabels(db: DbOrTx, opts: { datasetId: string }): Promise<ExportRow[]> {
  await schemaOf(db, opts.datasetId);
  const res = await db.execute<{
    image_id: string;
    filename: string;
    split: ImageSplit;
    reads: ExportRow["reads"] | null;
    gold: ExportRow["gold"];
  }>(sql`
    select i.id as image_id, i.original_filename as filename, i.split,
      (select jsonb_agg(jsonb_build_object('annotator', u.email, 'kind', r.kind, 'gate', r.gate,
          'findings', r.findings, 'flagged', r.flagged, 'flagReason', r.flag_reason, 'skipReason', r.skip_reason,
          'timeSpentMs', r.time_spent_ms, 'at', r.created_at) order by r.created_at)
        from reads r join users u on u.id = r.user_id where r.image_id = i.id) as reads,
      (select jsonb_build_object('gate', g.gate, 'findings', g.findings, 'adjudicatedBy', u.email,
          'reason', g.reason, 'at', g.created_at)
        from gold_labels g join users u on u.id = g.adjudicated_by
        where g.image_id = i.id and g.superseded_at is null) as gold
    from images i
    where i.dataset_id = ${opts.datasetId}
      and (exists (select 1 from reads r where r.image_id = i.id)
        or exists (select 1 from gold_labels g where g.image_id = i.id and g.superseded_at is null))
    order by i.original_filename, i.id`);
  return res.rows.map((r) => ({
    imageId: r.image_id,
    filename: r.filename,
    split: r.split,
    reads: r.reads ?? [],
    gold: r.gold,
  }));
}

/**
 * A cell safe to open in a spreadsheet: text starting with = + - @ tab or CR gets a leading
 * apostrophe (formula injection), then RFC 4180 quoting.
 */
export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return "";
  let s = String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  if (/[",\r\n]/.test(s)) s = `"${s.replaceAll('"', '""')}"`;
  return s;
}

/** Long-format CSV: one line per read and one per gold label (source column "read", "skip" or "gold"). */
export function labelsCsv(schema: LabelSchema, rows: ExportRow[]): string {
  const findingKeys = schema.findings.map((f) => f.key);
  const header = [
    "image_id",
    "filename",
    "split",
    "source",
    "annotator",
    "gate",
    ...findingKeys,
    "flagged",
    "flag_reason",
    "skip_reason",
    "reason",
    "time_spent_ms",
    "at",
  ];
  const lines = [header.map(csvCell).join(",")];
  for (const row of rows) {
    for (const r of row.reads) {
      lines.push(
        [
          row.imageId,
          row.filename,
          row.split,
          r.kind,
          r.annotator,
          r.gate,
          ...findingKeys.map((k) => r.findings[k] ?? (r.gate === "normal" ? "negative" : "")),
          r.flagged,
          r.flagReason,
          r.skipReason,
          "",
          r.timeSpentMs,
          r.at,
        ]
          .map(csvCell)
          .join(","),
      );
    }
    const g = row.gold;
    if (g)
      lines.push(
        [
          row.imageId,
          row.filename,
          row.split,
          "gold",
          g.adjudicatedBy,
          g.gate,
          ...findingKeys.map((k) => g.findings[k] ?? (g.gate === "normal" ? "negative" : "")),
          "",
          "",
          "",
          g.reason,
          "",
          g.at,
        ]
          .map(csvCell)
          .join(","),
      );
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** The dataset's labels as CSV text (reads and gold), ready to download. */
export async function exportLabelsCsv(db: DbOrTx, opts: { datasetId: string }): Promise<string> {
  const schema = await schemaOf(db, opts.datasetId);
  return labelsCsv(schema, await exportLabels(db, opts));
}
