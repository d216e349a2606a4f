import { can } from "@xray/auth/permissions";
import { ServiceError } from "@xray/core/errors";
import { modelAssist } from "@xray/core/queue";
import { StorageMissingError } from "@xray/storage";
import { z } from "zod";
import { getSessionUser } from "@/server/auth";
import { getPlatform } from "@/server/platform";

const paramsSchema = z.object({
  versionId: z.string().uuid(),
  imageId: z.string().uuid(),
  head: z.string().regex(/^[\w-]{1,100}$/),
});

const text = (status: number, body: string) =>
  new Response(body, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" },
  });

/**
 * A Grad-CAM heatmap (grey PNG at the model's input size, letterboxed like the model's input) of one
 * head for one image under the dataset's active model version; the viewer colour-maps and blends it.
 * The access rule is the model output's (core modelAssist): in a blind dataset an annotator gets it
 * only after their read of the image is stored (403 before); in an assisted one while they hold or
 * have read the image. Unknown version, image or head: 404.
 */
export async function GET(
  _request: Request,
  ctx: { params: Promise<{ versionId: string; imageId: string; head: string }> },
) {
  const user = await getSessionUser();
  if (!user) return text(401, "sign in first");
  if (!can(user.role, "images.read")) return text(403, "your role may not see images");
  const params = paramsSchema.safeParse(await ctx.params);
  if (!params.success) return text(404, "no such heatmap");
  const { versionId, imageId, head } = params.data;
  const { db, storage } = getPlatform();
  try {
    const assist = await modelAssist(db, { actor: { id: user.id, role: user.role }, imageId });
    const key = assist?.versionId === versionId ? assist.heatmaps[head] : undefined;
    if (!key) return text(404, "no such heatmap");
    const bytes = await storage.read(key);
    return new Response(new Uint8Array(bytes), {
      status: 200,
      headers: {
        "Content-Type": "image/png",
        // Whether it may be seen depends on the read state, so no long caching.
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
      },
    });
  } catch (err) {
    if (err instanceof ServiceError && err.code === "FORBIDDEN") return text(403, err.message);
    if (err instanceof ServiceError && err.code === "NOT_FOUND") return text(404, "no such heatmap");
    if (err instanceof StorageMissingError) {
      console.error(
        `[heatmaps] stored file missing for version ${versionId} image ${imageId} head ${head}: ${err.key}`,
      );
      return text(404, "the heatmap file is missing from storage");
    }
    throw err;
  }
}
