import { z } from "zod";

const schema = z.object({
  DATABASE_URL: z.string().url().optional(),
  XRAY_DATA_DIR: z.string().min(1).optional(),
  XRAY_PG_PORT: z.coerce.number().int().min(1024).max(65535).optional(),
});

/** The database package's environment, read and validated in this one place. */
export function dbEnv(source: NodeJS.ProcessEnv = process.env) {
  return schema.parse({
    DATABASE_URL: source.DATABASE_URL || undefined,
    XRAY_DATA_DIR: source.XRAY_DATA_DIR || undefined,
    XRAY_PG_PORT: source.XRAY_PG_PORT || undefined,
  });
}
