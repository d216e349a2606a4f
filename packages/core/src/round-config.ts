import { z } from "zod";

/**
 * The one schema for a training round's configuration: the researcher console's form, the API, the
 * CLI and the trainer worker all validate with it. Defaults are sized for a CPU-only machine.
 */
export const QUERY_STRATEGIES = [
  "entropy+kcenter",
  "entropy",
  "margin",
  "least-confidence",
  "kcenter",
  "random",
] as const;

export const roundConfigSchema = z
  .object({
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1),
    inputSize: z.number().int().min(28).max(224).default(64),
    encoder: z
      .object({
        width: z.number().int().min(8).max(128).multipleOf(8).default(16),
        blocks: z.array(z.number().int().min(1).max(4)).min(1).max(4).default([1, 1, 1]),
      })
      .strict()
      .default({ width: 16, blocks: [1, 1, 1] }),
    pretrain: z
      .discriminatedUnion("mode", [
        z.object({ mode: z.literal("none") }).strict(),
        z.object({ mode: z.literal("reuse"), versionId: z.string().uuid() }).strict(),
        z
          .object({
            mode: z.literal("ssl"),
            /** Self-supervised method (@xray/ml SSL_METHODS); the temperature is SimCLR's only. */
            method: z.enum(["simclr", "simsiam"]).default("simclr"),
            epochs: z.number().int().min(1).max(200).default(5),
            batchSize: z.number().int().min(8).max(512).default(64),
            temperature: z.number().min(0.01).max(2).default(0.2),
            learningRate: z.number().positive().max(1).default(1e-3),
          })
          .strict(),
      ])
      .default({ mode: "none" }),
    fixmatch: z
      .object({
        enabled: z.boolean().default(true),
        epochs: z.number().int().min(1).max(500).default(10),
        batchSize: z.number().int().min(4).max(512).default(32),
        mu: z.number().int().min(1).max(16).default(2),
        /** Pseudo-label confidence; 0.8 as @xray/ml's DEFAULT_FIXMATCH_THRESHOLD (why: there). */
        threshold: z.number().min(0.5).max(1).default(0.8),
        unsupervisedWeight: z.number().min(0).max(100).default(1),
        distributionAlignment: z.boolean().default(true),
        emaDecay: z.number().min(0).max(0.99999).default(0.99),
        learningRate: z.number().positive().max(1).default(1e-3),
      })
      .strict()
      .default({
        enabled: true,
        epochs: 10,
        batchSize: 32,
        mu: 2,
        threshold: 0.8,
        unsupervisedWeight: 1,
        distributionAlignment: true,
        emaDecay: 0.99,
        learningRate: 1e-3,
      }),
    labels: z
      .object({ consensus: z.enum(["majority", "unanimous"]).default("majority") })
      .strict()
      .default({ consensus: "majority" }),
    scoring: z
      .object({
        strategy: z.enum(QUERY_STRATEGIES).default("entropy+kcenter"),
        /** Stochastic forward passes for MC-dropout BALD (0 = off). */
        mcDropoutSamples: z.number().int().min(0).max(30).default(0),
        /** Grad-CAM heatmaps precomputed for the top of the queue. */
        heatmapsTop: z.number().int().min(0).max(1000).default(20),
        /** Size of the diverse batch placed at the head of the queue. */
        batchSize: z.number().int().min(1).max(10_000).default(50),
        /**
         * Shards the pool is split into for scoring (any worker sharing the database takes one).
         * Default: XRAY_SCORE_SHARDS, else one per XRAY_SCORE_SHARD_IMAGES (20,000) pool images.
         */
        shards: z.number().int().min(1).max(1024).optional(),
      })
      .strict()
      .default({ strategy: "entropy+kcenter", mcDropoutSamples: 0, heatmapsTop: 20, batchSize: 50 }),
    /** Promote the new version automatically: only when none is active (default), never, or always. */
    promote: z.enum(["if-none-active", "never", "always"]).default("if-none-active"),
  })
  .strict();

export type RoundConfig = z.infer<typeof roundConfigSchema>;
export type RoundConfigInput = z.input<typeof roundConfigSchema>;

export function parseRoundConfig(input: unknown): RoundConfig {
  return roundConfigSchema.parse(input ?? {});
}

/**
 * A rough run-time estimate for the console, from image counts and a measured CPU throughput
 * (training images/s at 64 px for the default encoder; scaled by area and width).
 */
export function estimateRoundSeconds(
  config: RoundConfig,
  counts: { labelled: number; unlabelled: number; evaluation: number },
  trainImagesPerSecondAt64 = 120,
): number {
  const scale = (config.inputSize / 64) ** 2 * (config.encoder.width / 16) ** 2;
  const trainRate = trainImagesPerSecondAt64 / scale;
  const inferRate = trainRate * 3;
  let images = 0;
  if (config.pretrain.mode === "ssl")
    images += 2 * config.pretrain.epochs * (counts.labelled + counts.unlabelled);
  const fm = config.fixmatch;
  const stepsPerEpoch = Math.max(1, Math.ceil(counts.labelled / fm.batchSize));
  const perStep = fm.batchSize * (fm.enabled ? 1 + 2 * fm.mu : 1);
  images += fm.epochs * stepsPerEpoch * perStep;
  const inference = (counts.evaluation + counts.unlabelled) * (1 + config.scoring.mcDropoutSamples);
  return Math.round(images / trainRate + inference / inferRate + 10);
}
