import { spawn } from "node:child_process";
import path from "node:path";
import { z } from "zod";

export interface UploadJob {
  datasetId: string;
  root: string;
  labelsCsv?: string;
  mapping?: string;
  actor: { id: string; role: "annotator" | "lead" | "researcher" | "admin" };
  source: string;
}

const issueSchema = z.object({ path: z.string(), reason: z.string() });
const resultSchema = z.union([
  z.object({
    ok: z.literal(true),
    report: z.object({
      importId: z.string(),
      totals: z.object({
        files: z.number(),
        imported: z.number(),
        duplicates: z.number(),
        refused: z.number(),
      }),
      refused: z.array(issueSchema),
      duplicates: z.array(z.string()),
      labelled: z.number(),
      skipped: z.array(z.string()),
      seconds: z.number(),
    }),
  }),
  z.object({ ok: z.literal(false), code: z.string(), message: z.string() }),
]);
export type UploadImportResult = z.infer<typeof resultSchema>;

/**
 * Runs the import service in a child process (server-tasks/import-upload.ts under tsx), so decoding
 * stays off the web server's event loop and out of its bundle. `next start` runs in apps/web.
 */
export function runUploadImport(job: UploadJob): Promise<UploadImportResult> {
  const webDir = process.cwd();
  const tsx = path.resolve(webDir, "../../node_modules/.bin/tsx");
  const script = path.resolve(webDir, "server-tasks/import-upload.ts");
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [script, JSON.stringify(job)], {
      cwd: webDir,
      env: process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      err = (err + chunk).slice(-8000);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      let value: unknown = null;
      try {
        value = JSON.parse(line);
      } catch {
        // reported below with the process's last words
      }
      const parsed = resultSchema.safeParse(value);
      if (code === 0 && parsed.success) resolve(parsed.data);
      else
        reject(new Error(`import process failed (exit ${code}): ${err.split("\n").slice(-5).join(" | ")}`));
    });
  });
}
