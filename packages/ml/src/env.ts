import { z } from "zod";

/**
 * The ML package's environment, read and validated in this one place.
 * XRAY_TF_BACKEND forces a backend ("auto" or unset: best available);
 * XRAY_TF_THREADS sets the wasm thread count (default: all cores).
 * XRAY_SCORE_ENGINE picks the pool-scoring engine: "tfjs" (default) or "onnx" (the version exported
 * to ONNX and run by onnxruntime-node; falls back to tfjs when onnxruntime-node cannot load).
 */
const mlEnvSchema = z.object({
  XRAY_TF_BACKEND: z.enum(["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"]).default("auto"),
  XRAY_TF_THREADS: z.coerce.number().int().min(1).max(256).optional(),
  XRAY_SCORE_ENGINE: z.enum(["tfjs", "onnx"]).default("tfjs"),
});

export type MlEnv = z.infer<typeof mlEnvSchema>;

export function readMlEnv(source: Record<string, string | undefined> = process.env): MlEnv {
  const parsed = mlEnvSchema.safeParse({
    XRAY_TF_BACKEND: source.XRAY_TF_BACKEND === "" ? undefined : source.XRAY_TF_BACKEND,
    XRAY_TF_THREADS: source.XRAY_TF_THREADS === "" ? undefined : source.XRAY_TF_THREADS,
    XRAY_SCORE_ENGINE: source.XRAY_SCORE_ENGINE === "" ? undefined : source.XRAY_SCORE_ENGINE,
  });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid ML environment: ${issues}`);
  }
  return parsed.data;
}
