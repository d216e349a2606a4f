import { ServiceError } from "@xray/core/errors";
import { getVersion } from "@xray/core/versions";
import { StorageMissingError } from "@xray/storage";
import { z } from "zod";
import { getPlatform } from "@/server/platform";
import { exportUser, plain } from "../../auth";
import { modelFiles } from "../files";

/**
 * A model version in TF.js format: a JSON manifest (lineage + one link per file). Load it in the
 * browser or Node with tf.loadLayersModel(`<origin>/api/export/model/<id>/model.json`).
 */
export async function GET(request: Request, ctx: { params: Promise<{ versionId: string }> }) {
  const user = await exportUser("labels.export");
  if (user instanceof Response) return user;
  const id = z
    .string()
    .uuid()
    .safeParse((await ctx.params).versionId);
  if (!id.success) return plain(404, "no such version");
  const { db, storage } = getPlatform();
  try {
    const v = await getVersion(db, id.data);
    const names = await modelFiles(storage, v.artifactKey);
    const base = new URL(`/api/export/model/${v.id}/`, request.url);
    const files = await Promise.all(
      names.map(async (name) => ({
        name,
        bytes: await storage.size(`${v.artifactKey}/${name}`),
        url: new URL(encodeURIComponent(name), base).toString(),
      })),
    );
    const manifest = {
      format: "tfjs-layers",
      version: { id: v.id, number: v.number, datasetId: v.datasetId, createdAt: v.createdAt },
      lineage: {
        roundId: v.roundId,
        parentVersionId: v.parentVersionId,
        encoderFromVersionId: v.encoderFromVersionId,
        labelSnapshot: v.labelSnapshot,
        codeRevision: v.codeRevision,
      },
      config: v.config,
      files,
    };
    return new Response(JSON.stringify(manifest, null, 2), {
      status: 200,
      headers: {
        "Content-Type": "application/json",
        "Content-Disposition": `attachment; filename="model-v${v.number}.manifest.json"`,
        "Cache-Control": "no-store",
      },
    });
  } catch (err) {
    if (err instanceof ServiceError && err.code === "NOT_FOUND") return plain(404, "no such version");
    if (err instanceof StorageMissingError) {
      console.error(`[export] stored file missing for model version ${id.data}: ${err.key}`);
      return plain(404, "the model files are missing from storage");
    }
    throw err;
  }
}
