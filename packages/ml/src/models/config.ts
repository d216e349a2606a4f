import { z } from "zod";

/** A label schema: the normal/abnormal gate plus one binary head per finding. Data, not code. */
export const labelSchemaSchema = z.object({
  gate: z.object({ key: z.string().min(1), name: z.string().min(1) }),
  findings: z.array(z.object({ key: z.string().min(1), name: z.string().min(1) })),
});
export type LabelSchema = z.infer<typeof labelSchemaSchema>;

/** Head keys in output order: the gate first, then the findings. */
export function headKeys(schema: LabelSchema): string[] {
  return [schema.gate.key, ...schema.findings.map((f) => f.key)];
}

/**
 * ResNet-style grey-scale encoder. Stage i has `width * 2^i` channels (multiples of 8, which suit
 * the wasm SIMD kernels) and `blocks[i]` basic blocks; every stage after the first halves the
 * resolution. Small inputs (< 96 px) use a 3x3 stride-1 stem; larger ones a stride-2 stem + max-pool.
 */
export const encoderConfigSchema = z
  .object({
    inputSize: z.number().int().min(16).max(224),
    width: z.number().int().min(8).max(256).multipleOf(8).default(16),
    blocks: z.array(z.number().int().min(1).max(8)).min(1).max(5).default([1, 1, 1]),
    stem: z.enum(["auto", "small", "large"]).default("auto"),
  })
  .strict();
export type EncoderConfig = z.infer<typeof encoderConfigSchema>;
export type EncoderConfigInput = z.input<typeof encoderConfigSchema>;

export const normalizationSchema = z.object({ mean: z.number(), std: z.number().positive() });
export type Normalization = z.infer<typeof normalizationSchema>;

export const classifierConfigSchema = z
  .object({
    encoder: encoderConfigSchema,
    schema: labelSchemaSchema,
    dropout: z.number().min(0).max(0.9).default(0.2),
    normalization: normalizationSchema.default({ mean: 0.5, std: 0.25 }),
  })
  .strict();
export type ClassifierConfig = z.infer<typeof classifierConfigSchema>;
export type ClassifierConfigInput = z.input<typeof classifierConfigSchema>;

export const projectionConfigSchema = z
  .object({ hidden: z.number().int().min(8).default(128), out: z.number().int().min(8).default(64) })
  .strict();
export type ProjectionConfig = z.infer<typeof projectionConfigSchema>;

export function encoderChannels(cfg: EncoderConfig): number[] {
  return cfg.blocks.map((_, i) => cfg.width * 2 ** i);
}

export function resolvedStem(cfg: EncoderConfig): "small" | "large" {
  if (cfg.stem !== "auto") return cfg.stem;
  return cfg.inputSize < 96 ? "small" : "large";
}

/** Embedding size (channels of the last stage). */
export function embeddingSize(cfg: EncoderConfig): number {
  return cfg.width * 2 ** (cfg.blocks.length - 1);
}

/** Spatial size of the feature map produced by the encoder. */
export function featureMapSize(cfg: EncoderConfig): number {
  let s = cfg.inputSize;
  if (resolvedStem(cfg) === "large") {
    s = Math.ceil(s / 2);
    s = Math.ceil(s / 2);
  }
  for (let i = 1; i < cfg.blocks.length; i++) s = Math.ceil(s / 2);
  return s;
}
