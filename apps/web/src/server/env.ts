import { z } from "zod";

const schema = z.object({
  DATABASE_URL: z.string().url("DATABASE_URL must be a postgres:// URL (the start script sets it)"),
  XRAY_DATA_DIR: z.string().min(1).default(".data"),
});

export type WebEnv = z.infer<typeof schema>;

/** The web server's environment, read and validated in this one place, on first use (not at build). */
export function webEnv(source: NodeJS.ProcessEnv = process.env): WebEnv {
  return schema.parse({
    DATABASE_URL: source.DATABASE_URL || undefined,
    XRAY_DATA_DIR: source.XRAY_DATA_DIR || undefined,
  });
}
