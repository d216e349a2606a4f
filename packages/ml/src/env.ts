import { z } from "zod";

/**
 * The ML package's environment, read and validated in this one place.
 * XRAY_TF_BACKEND forces a backend ("auto" or unset: best available);
 * XRAY_TF_THREADS sets the wasm thread count (default: all cores).
 */
const mlEnvSchema = z.object({
  XRAY_TF_BACKEND: z.enum(["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"]).default("auto"),
  XRAY_TF_THREADS: z.coerce.number().int().min(1).max(256).optional(),
});

export type MlEnv = z.infer<typeof mlEnvSchema>;

export function readMlEnv(source: Record<string, string | undefined> = process.env): MlEnv {
  const parsed = mlEnvSchema.safeParse({
    XRAY_TF_BACKEND: source.XRAY_TF_BACKEND === "" ? undefined : source.XRAY_TF_BACKEND,
    XRAY_TF_THREADS: source.XRAY_TF_THREADS === "" ? undefined : source.XRAY_TF_THREADS,
  });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid ML environment: ${issues}`);
  }
  return parsed.data;
}
