import { execFileSync } from "node:child_process";

let cached: string | undefined;

/** The code revision a version or run records: git HEAD (+ "-dirty"), or XRAY_CODE_REVISION. */
export function codeRevision(): string {
  if (cached) return cached;
  const fromEnv = process.env.XRAY_CODE_REVISION;
  if (fromEnv) {
    cached = fromEnv;
    return cached;
  }
  try {
    const head = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      encoding: "utf8",
    }).trim();
    cached = dirty ? `${head}-dirty` : head;
  } catch {
    cached = "unknown";
  }
  return cached;
}
