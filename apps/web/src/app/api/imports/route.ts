import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { crossSiteRefusal } from "@xray/auth/csrf";
import { can } from "@xray/auth/permissions";
import { z } from "zod";
import { getSessionUser } from "@/server/auth";
import { runUploadImport } from "@/server/import-job";

// Uploads are buffered by the multipart parser: keep one request to a sane size.
const MAX_UPLOAD_BYTES = 2 * 1024 ** 3;

const fieldsSchema = z.object({
  datasetId: z.string().uuid(),
  mapping: z.enum(["", "knee-kl"]).default(""),
});

const json = (status: number, body: unknown) =>
  Response.json(body, { status, headers: { "Cache-Control": "no-store" } });

/** A file name safe to write in the temp folder; the report shows it as the file's path. */
function safeName(name: string, taken: Set<string>): string {
  const base =
    path
      .basename(name)
      .replace(/[^\w.\- ]/g, "_")
      .replace(/^\.+/, "_") || "file";
  let candidate = base;
  for (let i = 2; taken.has(candidate.toLowerCase()); i++) candidate = `${i}-${base}`;
  taken.add(candidate.toLowerCase());
  return candidate;
}

/**
 * Upload page backend: multipart form with datasetId, files (one or many), an optional labels CSV and
 * mapping preset. Files go to a private temp folder; the import service does the rest and its report
 * (imported, duplicates, refused with reasons) is the answer.
 */
export async function POST(request: Request) {
  const crossSite = crossSiteRefusal(request);
  if (crossSite) return crossSite;
  const user = await getSessionUser();
  if (!user) return json(401, { error: "sign in first" });
  if (!can(user.role, "imports.run")) return json(403, { error: "your role may not import images" });
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > MAX_UPLOAD_BYTES)
    return json(413, { error: "upload too large: send at most 2 GiB per request" });
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    return json(400, { error: "expected a multipart form upload" });
  }
  const fields = fieldsSchema.safeParse({
    datasetId: form.get("datasetId"),
    mapping: form.get("mapping") ?? undefined,
  });
  if (!fields.success) return json(400, { error: "choose a dataset" });
  const files = form.getAll("files").filter((f): f is File => f instanceof File && f.name !== "");
  if (files.length === 0) return json(400, { error: "choose at least one file" });
  const labels = form.get("labels");

  const work = await mkdtemp(path.join(os.tmpdir(), "xray-upload-"));
  const root = path.join(work, "files");
  try {
    await mkdir(root);
    const taken = new Set<string>();
    for (const file of files) {
      await writeFile(path.join(root, safeName(file.name, taken)), new Uint8Array(await file.arrayBuffer()));
    }
    let labelsCsv: string | undefined;
    if (labels instanceof File && labels.name !== "") {
      labelsCsv = path.join(work, "labels.csv");
      await writeFile(labelsCsv, new Uint8Array(await labels.arrayBuffer()));
    }
    const result = await runUploadImport({
      datasetId: fields.data.datasetId,
      root,
      labelsCsv,
      mapping: fields.data.mapping || undefined,
      actor: { id: user.id, role: user.role },
      source: `upload by ${user.email}: ${files.length} file${files.length === 1 ? "" : "s"}`,
    });
    if (result.ok) return json(200, result.report);
    const status =
      result.code === "NOT_FOUND"
        ? 404
        : result.code === "FORBIDDEN"
          ? 403
          : result.code === "STORAGE_FULL"
            ? 507
            : 400;
    return json(status, { error: result.message });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
