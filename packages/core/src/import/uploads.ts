/**
 * Imports files that arrived as bytes (the admin upload page) through the same service as the CLI: they
 * are written to a private temporary folder under their sanitized relative names, imported, and removed.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ServiceError } from "../errors";
import { type ImportXraysOptions, type ImportXraysReport, importXrays } from "./import";

export interface UploadedFile {
  /** The name the browser sent, possibly with folders ("study1/img.dcm"). */
  name: string;
  bytes: Uint8Array;
}

/** A relative path made only of safe segments; null when nothing usable is left. */
export function sanitizeUploadName(name: string): string | null {
  const parts = name
    .split(/[\\/]+/)
    .map((p) => p.replace(/[^A-Za-z0-9._ -]/g, "_").trim())
    .filter((p) => p !== "" && p !== "." && p !== ".." && !/^\.+$/.test(p));
  return parts.length > 0 ? parts.join("/") : null;
}

export async function importUploads(
  opts: Omit<ImportXraysOptions, "root" | "files" | "labelsCsv" | "labels"> & {
    uploads: UploadedFile[];
    /** An uploaded labels CSV; its paths refer to the uploaded names. */
    labelsCsv?: UploadedFile;
  },
): Promise<ImportXraysReport> {
  if (opts.uploads.length === 0) throw new ServiceError("BAD_REQUEST", "no files uploaded");
  const dir = await mkdtemp(path.join(os.tmpdir(), "xray-upload-"));
  try {
    const root = path.join(dir, "files");
    await mkdir(root);
    const used = new Set<string>();
    for (const [i, u] of opts.uploads.entries()) {
      let rel = sanitizeUploadName(u.name) ?? `upload-${i + 1}`;
      if (used.has(rel)) rel = `${i + 1}-${rel}`;
      used.add(rel);
      await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
      await writeFile(path.join(root, rel), u.bytes);
    }
    let labelsPath: string | undefined;
    if (opts.labelsCsv) {
      labelsPath = path.join(dir, sanitizeUploadName(path.basename(opts.labelsCsv.name)) ?? "labels.csv");
      await writeFile(labelsPath, opts.labelsCsv.bytes);
    }
    const { uploads: _uploads, labelsCsv: _labels, ...rest } = opts;
    return await importXrays({
      ...rest,
      root,
      files: [...used],
      ...(labelsPath ? { labelsCsv: labelsPath } : {}),
      source: opts.source ?? `upload of ${opts.uploads.length} file(s)`,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
