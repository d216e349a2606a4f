import { fitConfigSchema, labelSchemaSchema, sslConfigSchema } from "@xray/ml";
import { z } from "zod";

const headSpecSchema = z
  .object({
    key: z.string().min(1),
    name: z.string().min(1),
    /** CSV column holding the label. */
    column: z.string().min(1),
    /** Positive when the column equals one of these values (one-vs-rest); otherwise the column is 0/1. */
    equals: z.union([z.string(), z.array(z.string())]).optional(),
  })
  .strict();

/** Maps CSV columns to heads: the gate and one binary head per finding. */
export const headMapSchema = z
  .object({
    gate: headSpecSchema,
    findings: z.array(headSpecSchema).default([]),
    pathColumn: z.string().default("path"),
    splitColumn: z.string().default("split"),
    /** Labelled subsets are drawn by this column (e.g. patient_id) so a patient is never split. */
    groupColumn: z.string().optional(),
  })
  .strict();
export type HeadMap = z.infer<typeof headMapSchema>;

/** The knee-oa-128 layout: gate = KL >= 2, findings = each KL grade one-vs-rest. */
export const KNEE_HEAD_MAP: HeadMap = headMapSchema.parse({
  gate: { key: "oa", name: "Osteoarthritis (KL >= 2)", column: "oa_kl_ge2" },
  findings: [0, 1, 2, 3, 4].map((g) => ({
    key: `kl${g}`,
    name: `KL grade ${g}`,
    column: "kl_grade",
    equals: String(g),
  })),
  groupColumn: "patient_id",
});

export const dataConfigSchema = z
  .object({
    /** A folder with labels.csv (or --csv), or a MedMNIST .npz file. */
    source: z.string().min(1),
    csv: z.string().optional(),
    size: z.number().int().min(16).max(224).default(64),
    headMap: headMapSchema.optional(),
    trainSplit: z.string().default("train"),
    /** Held-out split for evaluation; default "val" for folders, "test" for npz. */
    evalSplit: z.string().optional(),
    labelledFraction: z.number().gt(0).max(1).default(1),
    cacheDir: z.string().default(".cache/images"),
  })
  .strict();

export const modelConfigSchema = z
  .object({
    width: z.number().int().min(8).multipleOf(8).default(16),
    blocks: z.array(z.number().int().min(1)).min(1).max(5).default([1, 1, 1]),
    stem: z.enum(["auto", "small", "large"]).default("auto"),
    dropout: z.number().min(0).max(0.9).default(0.2),
  })
  .strict();

export const stageSpecSchema = z
  .object({
    name: z.string().min(1),
    source: z.string().min(1),
    csv: z.string().optional(),
    epochs: z.number().int().min(1),
  })
  .strict();

export const runConfigSchema = z
  .object({
    command: z.enum(["pretrain", "fit", "eval", "predict"]),
    seed: z.number().int().default(0),
    runDir: z.string().optional(),
    resume: z.boolean().default(false),
    data: dataConfigSchema,
    model: modelConfigSchema.default({ width: 16, blocks: [1, 1, 1], stem: "auto", dropout: 0.2 }),
    ssl: z
      .object({
        settings: sslConfigSchema.partial().default({}),
        /** Stages in order (e.g. human X-rays, then veterinary); default: one stage on data.source. */
        stages: z.array(stageSpecSchema).optional(),
        epochs: z.number().int().min(1).default(10),
      })
      .strict()
      .default({ settings: {}, epochs: 10 }),
    fit: z
      .object({
        settings: fitConfigSchema.partial().default({}),
        /** A pretrained encoder: a model folder (metadata.json) or a pretrain run folder. */
        encoder: z.string().optional(),
        /**
         * A trained classifier (model folder or fit run folder) that predicts the pseudo-labels in
         * place of the model being trained: a self-training round on top of an earlier fit. A list
         * is an ensemble whose mean probability gives the pseudo-labels.
         */
        teacher: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
      })
      .strict()
      .default({ settings: {} }),
    /** A trained classifier (model folder or fit run folder) for eval / predict. */
    modelPath: z.string().optional(),
    split: z.string().optional(),
    threshold: z.number().min(0).max(1).default(0.5),
    mcSamples: z.number().int().min(0).default(10),
    out: z.string().optional(),
    schema: labelSchemaSchema.optional(),
  })
  .strict();
export type RunConfig = z.infer<typeof runConfigSchema>;
