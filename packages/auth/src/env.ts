import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

const schema = z.object({
  AUTH_SECRET: z.string().min(32, "AUTH_SECRET must be at least 32 characters").optional(),
  XRAY_DATA_DIR: z.string().min(1).default(".data"),
});

export const AUTH_SECRET_FILE = "auth-secret";

export interface AuthEnv {
  secret: string;
  /** Where the secret came from (never the secret itself): for start-up logs. */
  source: "env" | "file";
}

/**
 * The auth package's environment, read and validated in this one place. AUTH_SECRET wins; without it
 * the secret the start script generated into <XRAY_DATA_DIR>/auth-secret is used (embedded/demo mode).
 */
export function authEnv(source: NodeJS.ProcessEnv = process.env): AuthEnv {
  const env = schema.parse({
    AUTH_SECRET: source.AUTH_SECRET || undefined,
    XRAY_DATA_DIR: source.XRAY_DATA_DIR || undefined,
  });
  if (env.AUTH_SECRET) return { secret: env.AUTH_SECRET, source: "env" };
  const file = path.resolve(env.XRAY_DATA_DIR, AUTH_SECRET_FILE);
  if (existsSync(file)) {
    const secret = readFileSync(file, "utf8").trim();
    if (secret.length >= 32) return { secret, source: "file" };
    throw new Error(`${file} holds a secret shorter than 32 characters; delete it to regenerate`);
  }
  throw new Error(
    `AUTH_SECRET is not set and ${file} does not exist: set AUTH_SECRET (openssl rand -base64 32) or start with \`pnpm start\``,
  );
}

/**
 * Creates <dataDir>/auth-secret (0600) when missing, for the embedded/demo start. Returns its path,
 * never its content.
 */
export function ensureAuthSecretFile(dataDir: string): string {
  const file = path.resolve(dataDir, AUTH_SECRET_FILE);
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    try {
      writeFileSync(file, randomBytes(48).toString("base64url"), { mode: 0o600, flag: "wx" });
    } catch (err) {
      // Another process created it first: keep theirs.
      if (!(err && typeof err === "object" && "code" in err && err.code === "EEXIST")) throw err;
    }
  }
  chmodSync(file, 0o600);
  return file;
}
