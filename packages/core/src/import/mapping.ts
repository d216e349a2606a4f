/**
 * How a labels CSV maps onto a dataset's label schema. A mapping is data (JSON), so a new folder layout
 * needs a file, not code. Blank cells mean "no label": such a row only sets the image's split/metadata.
 */
import type { FindingValue, GateValue, ImageSplit, LabelSchema } from "@xray/db";
import { z } from "zod";
import { ServiceError } from "../errors";

const values = z.array(z.string()).min(1);

export const labelMappingSchema = z.object({
  /** Column holding the image path, relative to the import folder. */
  path: z.string().default("path"),
  /** Column holding the split; its values are train/val/test unless `values` maps them. */
  split: z
    .object({ column: z.string(), values: z.record(z.string(), z.enum(["train", "val", "test"])).optional() })
    .optional(),
  /** Gate: cells listed in `abnormal` are abnormal, any other non-blank cell is normal. */
  gate: z.object({ column: z.string(), abnormal: values }).optional(),
  /** One entry per finding: listed cells are positive; other non-blank cells negative (or only `negative`). */
  findings: z
    .array(z.object({ key: z.string(), column: z.string(), positive: values, negative: values.optional() }))
    .default([]),
  /** Metadata columns; used when present in the CSV. */
  species: z.string().default("species"),
  bodyPart: z.string().default("body_part"),
  view: z.string().default("view"),
});

export type LabelMapping = z.infer<typeof labelMappingSchema>;
export type LabelMappingInput = z.input<typeof labelMappingSchema>;

/** The knee OA layout (labels.csv: path, split, kl_grade, oa_kl_ge2, patient_id, side). */
export const KNEE_KL_MAPPING: LabelMappingInput = {
  path: "path",
  split: { column: "split" },
  gate: { column: "oa_kl_ge2", abnormal: ["1"] },
  findings: [0, 1, 2, 3, 4].map((k) => ({ key: `kl${k}`, column: "kl_grade", positive: [String(k)] })),
};

export const MAPPING_PRESETS: Record<string, LabelMappingInput> = { "knee-kl": KNEE_KL_MAPPING };

export function parseMapping(input: unknown): LabelMapping {
  const parsed = labelMappingSchema.safeParse(input);
  if (!parsed.success)
    throw new ServiceError(
      "BAD_REQUEST",
      `invalid label mapping: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}

/** Checks the mapping against the schema and the CSV's header before any file is touched. */
export function checkMapping(mapping: LabelMapping, schema: LabelSchema, header: string[]): void {
  const problems: string[] = [];
  const has = new Set(header);
  if (!has.has(mapping.path)) problems.push(`the CSV has no "${mapping.path}" column for image paths`);
  if (mapping.split && !has.has(mapping.split.column))
    problems.push(`no split column "${mapping.split.column}"`);
  if (mapping.gate && !has.has(mapping.gate.column)) problems.push(`no gate column "${mapping.gate.column}"`);
  const keys = new Set(schema.findings.map((f) => f.key));
  for (const f of mapping.findings) {
    if (!keys.has(f.key))
      problems.push(
        `finding "${f.key}" is not in the dataset's schema (${[...keys].join(", ") || "no findings"})`,
      );
    if (!has.has(f.column)) problems.push(`no column "${f.column}" for finding "${f.key}"`);
  }
  if (problems.length > 0)
    throw new ServiceError("BAD_REQUEST", `labels CSV does not fit: ${problems.join("; ")}`);
}

export interface RowLabels {
  split: ImageSplit | null;
  /** Null when the row carries no gate label (the image arrives unlabelled). */
  gate: GateValue | null;
  findings: Record<string, FindingValue>;
  species: string | null;
  bodyPart: string | null;
  view: string | null;
}

export function labelsOfRow(
  mapping: LabelMapping,
  row: Record<string, string>,
): RowLabels | { error: string } {
  let split: ImageSplit | null = null;
  if (mapping.split) {
    const cell = row[mapping.split.column] ?? "";
    if (cell !== "") {
      const mapped = mapping.split.values ? mapping.split.values[cell] : cell.toLowerCase();
      if (mapped !== "train" && mapped !== "val" && mapped !== "test")
        return { error: `unknown split "${cell}" (expected train, val or test)` };
      split = mapped;
    }
  }
  let gate: GateValue | null = null;
  const findings: Record<string, FindingValue> = {};
  if (mapping.gate) {
    const cell = row[mapping.gate.column] ?? "";
    if (cell !== "") gate = mapping.gate.abnormal.includes(cell) ? "abnormal" : "normal";
  }
  if (gate !== null) {
    for (const f of mapping.findings) {
      const cell = row[f.column] ?? "";
      if (cell === "") continue;
      if (f.positive.includes(cell)) findings[f.key] = "positive";
      else if (!f.negative || f.negative.includes(cell)) findings[f.key] = "negative";
      else findings[f.key] = "uncertain";
    }
  }
  const meta = (column: string) => {
    const v = row[column];
    return v ? v.toLowerCase() : null;
  };
  return {
    split,
    gate,
    findings,
    species: meta(mapping.species),
    bodyPart: meta(mapping.bodyPart),
    view: meta(mapping.view),
  };
}
