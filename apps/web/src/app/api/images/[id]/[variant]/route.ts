import type { ReadStream } from "node:fs";
import { ServiceError } from "@xray/core/errors";
import { getImageFile, IMAGE_VARIANTS } from "@xray/core/images";
import { StorageMissingError } from "@xray/storage";
import { z } from "zod";
import { getSessionUser } from "@/server/auth";
import { getPlatform } from "@/server/platform";

const paramsSchema = z.object({ id: z.string().uuid(), variant: z.enum(IMAGE_VARIANTS) });

const text = (status: number, body: string) =>
  new Response(body, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" },
  });

/** Pull-based, so a slow client does not make the server buffer the whole file. */
function toWebStream(file: ReadStream): ReadableStream<Uint8Array> {
  const chunks = file[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(new Uint8Array(next.value));
    },
    cancel() {
      file.destroy();
    },
  });
}

/**
 * Image bytes: thumb (small PNG), full (normalized 8-bit PNG) or original (as imported). The files are
 * content-addressed, so a URL's bytes never change and may be cached for a year (privately: they
 * need a session).
 */
export async function GET(request: Request, ctx: { params: Promise<{ id: string; variant: string }> }) {
  const user = await getSessionUser();
  if (!user) return text(401, "sign in first");
  const params = paramsSchema.safeParse(await ctx.params);
  if (!params.success) return text(404, "no such image");
  const { db, storage } = getPlatform();
  try {
    const file = await getImageFile(db, {
      actor: { id: user.id, role: user.role },
      imageId: params.data.id,
      variant: params.data.variant,
    });
    const etag = `"${file.key.replace(/[^A-Za-z0-9.]/g, "")}"`;
    const headers = new Headers({
      "Content-Type": file.contentType,
      "Cache-Control": "private, max-age=31536000, immutable",
      ETag: etag,
      "X-Content-Type-Options": "nosniff",
    });
    if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
    const size = await storage.size(file.key);
    headers.set("Content-Length", String(size));
    if (params.data.variant === "original")
      headers.set(
        "Content-Disposition",
        `attachment; filename="${file.filename.replace(/[^\w.\- ]/g, "_")}"`,
      );
    return new Response(toWebStream(storage.stream(file.key)), { status: 200, headers });
  } catch (err) {
    if (err instanceof ServiceError && err.code === "NOT_FOUND") return text(404, "no such image");
    if (err instanceof StorageMissingError) {
      console.error(`[images] stored file missing for image ${params.data.id}: ${err.key}`);
      return text(404, "the image file is missing from storage");
    }
    throw err;
  }
}
