import { lstat, readdir, realpath } from "node:fs/promises";
import path from "node:path";

/** Whether `child` is `root` itself or inside it (both absolute and normalized). */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** On refusal, `rel` is set when the path itself lies inside the folder (e.g. a symlink pointing out). */
export type ResolvedPath =
  | { ok: true; abs: string; rel: string }
  | { ok: false; reason: string; rel?: string };

/**
 * Resolves a path named by a user (CLI argument or CSV cell) against the import folder. Absolute paths
 * and paths that climb out with "..", or that reach outside through a symlink, are refused.
 */
export async function resolveInside(
  rootReal: string,
  given: string,
  allowAbsolute: boolean,
): Promise<ResolvedPath> {
  if (given.includes("\0")) return { ok: false, reason: "path contains a NUL byte" };
  if (!allowAbsolute && (path.isAbsolute(given) || path.win32.isAbsolute(given)))
    return {
      ok: false,
      reason: "absolute paths are not allowed in the labels CSV (give paths relative to the import folder)",
    };
  const abs = path.resolve(rootReal, given);
  if (!isInside(rootReal, abs)) return { ok: false, reason: "path escapes the import folder" };
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    return { ok: false, reason: "file not found" };
  }
  const rel = path.relative(rootReal, abs).split(path.sep).join("/");
  if (!isInside(rootReal, real))
    return { ok: false, reason: "symlink points outside the import folder", rel };
  return { ok: true, abs: real, rel };
}

const IMAGE_EXT = /\.(png|jpe?g|dcm|dicom|dic)$/i;

/** Files worth trying as X-rays: image/DICOM extensions, or no extension at all (DICOM often has none). */
export function isCandidate(name: string): boolean {
  if (name.startsWith(".")) return false;
  return IMAGE_EXT.test(name) || !path.basename(name).includes(".");
}

/**
 * All files under the folder, as paths relative to it, sorted. Symlinks are listed (their targets are
 * checked when the file is read); symlinked folders are not followed.
 */
export async function walkFolder(rootReal: string): Promise<{ candidates: string[]; skipped: string[] }> {
  const candidates: string[] = [];
  const skipped: string[] = [];
  const visit = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      const rel = path.relative(rootReal, abs).split(path.sep).join("/");
      if (e.isDirectory()) {
        if (!e.name.startsWith(".")) await visit(abs);
      } else if (e.isFile() || e.isSymbolicLink()) {
        if (e.isSymbolicLink()) {
          const st = await lstat(abs);
          if (st.isDirectory()) continue;
        }
        (isCandidate(e.name) ? candidates : skipped).push(rel);
      }
    }
  };
  await visit(rootReal);
  candidates.sort();
  skipped.sort();
  return { candidates, skipped };
}
