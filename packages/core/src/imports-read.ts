/** Reading import runs and their reports (the import itself lives in ./import). */
import { type DbOrTx, datasets, type ImportIssue, type ImportTotals, imports, users } from "@xray/db";
import { and, desc, eq, type SQL } from "drizzle-orm";
import { notFound } from "./errors";

export interface ImportRun {
  id: string;
  datasetId: string;
  datasetName: string;
  source: string;
  status: "running" | "finished" | "failed";
  totals: ImportTotals;
  startedBy: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export interface ImportReport extends ImportRun {
  refusals: ImportIssue[];
}

const runColumns = {
  id: imports.id,
  datasetId: imports.datasetId,
  datasetName: datasets.name,
  source: imports.source,
  status: imports.status,
  totals: imports.totals,
  startedBy: users.email,
  startedAt: imports.startedAt,
  finishedAt: imports.finishedAt,
};

export async function listImports(
  db: DbOrTx,
  opts: { datasetId?: string; limit?: number } = {},
): Promise<ImportRun[]> {
  const conditions: SQL[] = [];
  if (opts.datasetId) conditions.push(eq(imports.datasetId, opts.datasetId));
  return await db
    .select(runColumns)
    .from(imports)
    .innerJoin(datasets, eq(datasets.id, imports.datasetId))
    .leftJoin(users, eq(users.id, imports.startedBy))
    .where(and(...conditions))
    .orderBy(desc(imports.startedAt))
    .limit(Math.min(Math.max(opts.limit ?? 50, 1), 500));
}

export async function getImportReport(db: DbOrTx, opts: { importId: string }): Promise<ImportReport> {
  const [row] = await db
    .select({ ...runColumns, refusals: imports.refusals })
    .from(imports)
    .innerJoin(datasets, eq(datasets.id, imports.datasetId))
    .leftJoin(users, eq(users.id, imports.startedBy))
    .where(eq(imports.id, opts.importId));
  if (!row) throw notFound("import");
  return row;
}
