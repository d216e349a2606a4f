import { ServiceError } from "@xray/core/errors";
import { exportLabelsCsv } from "@xray/core/labels";
import { z } from "zod";
import { getPlatform } from "@/server/platform";
import { exportUser, plain } from "../../auth";

/** The dataset's labels as CSV: every read and the gold label per image (formula cells neutralised). */
export async function GET(_request: Request, ctx: { params: Promise<{ datasetId: string }> }) {
  const user = await exportUser("labels.export");
  if (user instanceof Response) return user;
  const id = z
    .string()
    .uuid()
    .safeParse((await ctx.params).datasetId);
  if (!id.success) return plain(404, "no such dataset");
  try {
    const csv = await exportLabelsCsv(getPlatform().db, { datasetId: id.data });
    return new Response(csv, {
      status: 200,
      headers: {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": `attachment; filename="labels-${id.data}.csv"`,
        "Cache-Control": "no-store",
      },
    });
  } catch (err) {
    if (err instanceof ServiceError && err.code === "NOT_FOUND") return plain(404, "no such dataset");
    throw err;
  }
}
