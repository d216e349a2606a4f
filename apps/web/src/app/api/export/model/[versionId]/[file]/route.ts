import { ServiceError } from "@xray/core/errors";
import { getVersion } from "@xray/core/versions";
import { StorageMissingError } from "@xray/storage";
import { z } from "zod";
import { getPlatform } from "@/server/platform";
import { exportUser, plain } from "../../../auth";
import { modelFiles } from "../../files";

const params = z.object({ versionId: z.string().uuid(), file: z.string().min(1).max(200) });

/** One TF.js file of a version (only the files its model.json names, plus metadata.json). */
export async function GET(_request: Request, ctx: { params: Promise<{ versionId: string; file: string }> }) {
  const user = await exportUser("labels.export");
  if (user instanceof Response) return user;
  const p = params.safeParse(await ctx.params);
  if (!p.success) return plain(404, "no such file");
  const { db, storage } = getPlatform();
  try {
    const v = await getVersion(db, p.data.versionId);
    const file = decodeURIComponent(p.data.file);
    if (!(await modelFiles(storage, v.artifactKey)).includes(file)) return plain(404, "no such file");
    const bytes = await storage.read(`${v.artifactKey}/${file}`);
    return new Response(new Uint8Array(bytes), {
      status: 200,
      headers: {
        "Content-Type": file.endsWith(".json") ? "application/json" : "application/octet-stream",
        "Content-Disposition": `attachment; filename="${file.replace(/[^\w.-]/g, "_")}"`,
        "Cache-Control": "private, max-age=3600",
      },
    });
  } catch (err) {
    if (err instanceof ServiceError && err.code === "NOT_FOUND") return plain(404, "no such version");
    if (err instanceof StorageMissingError) {
      console.error(`[export] stored file missing for model version ${p.data.versionId}: ${err.key}`);
      return plain(404, "the model file is missing from storage");
    }
    throw err;
  }
}
