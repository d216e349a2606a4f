import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@xray/ml";

export function gitRevision(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return "unknown";
  }
}

/** Creates runs/<timestamp>-<cmd> (or the given folder) and records config, seed and git revision. */
export async function openRunDir(opts: {
  command: string;
  runDir?: string;
  config: unknown;
  seed: number;
  resume?: boolean;
}): Promise<string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = opts.runDir ?? join("runs", `${stamp}-${opts.command}`);
  if (existsSync(join(dir, "config.json")) && !opts.resume) {
    throw new Error(`${dir} already holds a run; pass --resume to continue it or choose another --run-dir`);
  }
  await mkdir(join(dir, "checkpoints"), { recursive: true });
  if (!opts.resume || !existsSync(join(dir, "config.json"))) {
    await writeFileAtomic(join(dir, "config.json"), `${JSON.stringify(opts.config, null, 2)}\n`);
    await writeFile(join(dir, "seed"), `${opts.seed}\n`);
    await writeFile(join(dir, "git-revision"), `${gitRevision()}\n`);
  }
  return dir;
}

/** A model folder, or a run folder whose model/ holds one. */
export function resolveModelDir(path: string): string {
  if (existsSync(join(path, "metadata.json"))) return path;
  if (existsSync(join(path, "model", "metadata.json"))) return join(path, "model");
  throw new Error(`${path} holds no model (metadata.json)`);
}
