/**
 * Importing X-rays into a dataset: one service behind the CLI, the admin upload page and first-start
 * seeding. Each file is refused with a reason or stored (original, normalized 8-bit PNG, thumbnail, all
 * content-addressed); a bad file never stops the rest, and the same bytes again are a duplicate.
 */
import { randomUUID } from "node:crypto";
import { readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import {
  type Db,
  type FindingValue,
  type GateValue,
  goldLabels,
  type ImageProvenance,
  type ImageSplit,
  type ImportIssue,
  type ImportTotals,
  images,
  imports,
  type LabelSchema,
} from "@xray/db";
import {
  DEFAULT_DECODE_LIMITS,
  type DecodedXray,
  type DecodeLimits,
  decodeXray,
  formatSize,
  isImageRefusal,
} from "@xray/imaging";
import { isStorageFull, type Storage, sha256Hex } from "@xray/storage";
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Actor } from "../actor";
import { recordAudit } from "../audit";
import { getDataset } from "../datasets";
import { ServiceError } from "../errors";
import { COLD_START_SEED, seededPriority } from "../seeded-priority";
import { type CsvTable, parseCsv } from "./csv";
import {
  checkMapping,
  type LabelMapping,
  type LabelMappingInput,
  labelsOfRow,
  MAPPING_PRESETS,
  parseMapping,
  type RowLabels,
} from "./mapping";
import { isInside, resolveInside, walkFolder } from "./paths";

export interface ImportProgress {
  done: number;
  total: number;
  imported: number;
  duplicates: number;
  refused: number;
}

export interface ImportXraysOptions {
  db: Db;
  storage: Storage;
  datasetId: string;
  /** The import folder. Every file, and every path in the labels CSV, must lie inside it. */
  root: string;
  /** Files to import (relative to root, or absolute inside it); default: every candidate file under root. */
  files?: string[];
  /** Path of a labels CSV (relative to the working directory or absolute; it may lie outside root). */
  labelsCsv?: string;
  /** An already-read labels table (for callers that derive one); `name` is what gold labels cite. */
  labels?: { name: string; table: CsvTable };
  /** A preset name ("knee-kl"), a path to a mapping JSON file, or a mapping object. Default: by column names. */
  mapping?: string | LabelMappingInput;
  /** Metadata for images whose file and CSV row do not say (e.g. --species dog). */
  defaults?: { species?: string; bodyPart?: string; view?: string; split?: ImageSplit };
  actor: Actor;
  onProgress?: (progress: ImportProgress) => void;
  /** Files decoded at once (default 3). */
  concurrency?: number;
  limits?: Partial<DecodeLimits>;
  /** What the imports row records as the source; default: the folder (and CSV name). */
  source?: string;
}

export interface ImportXraysReport {
  importId: string;
  totals: ImportTotals;
  refused: ImportIssue[];
  duplicates: string[];
  /** Images that arrived with a gold label from the CSV. */
  labelled: number;
  /** Files under the folder that are not images by name (.csv, .txt, ...) and were not tried. */
  skipped: string[];
  seconds: number;
}

interface Item {
  rel: string;
  abs: string | null;
  refusal?: string;
  labels?: RowLabels;
  csvRow?: Record<string, string>;
}

const CHUNK = 96;
const CHUNK_BYTES = 256 * 1024 * 1024;
const MAX_STORED_REFUSALS = 10_000;

/** Runs fn over items, n at a time. The first failure stops the pool; it throws once all have stopped. */
async function mapPool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (failures.length === 0 && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (err) {
        failures.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failures.length > 0) throw failures[0];
  return out;
}

/** Maps columns named like the schema's keys (abnormal, hip_dysplasia, ...) with 1/0, yes/no, true/false. */
export function mappingByColumnNames(schema: LabelSchema, header: string[]): LabelMappingInput {
  const has = new Set(header);
  const positive = ["1", "true", "yes", "positive", "abnormal"];
  const negative = ["0", "false", "no", "negative", "normal"];
  return {
    path: ["path", "file", "filename", "image"].find((c) => has.has(c)) ?? "path",
    ...(has.has("split") ? { split: { column: "split" } } : {}),
    ...(has.has(schema.gate.key) ? { gate: { column: schema.gate.key, abnormal: positive } } : {}),
    findings: schema.findings
      .filter((f) => has.has(f.key))
      .map((f) => ({ key: f.key, column: f.key, positive, negative })),
  };
}

async function loadMapping(
  given: ImportXraysOptions["mapping"],
  schema: LabelSchema,
  header: string[],
): Promise<LabelMapping> {
  if (given === undefined) return parseMapping(mappingByColumnNames(schema, header));
  if (typeof given !== "string") return parseMapping(given);
  const preset = MAPPING_PRESETS[given];
  if (preset) return parseMapping(preset);
  let text: string;
  try {
    text = await readFile(given, "utf8");
  } catch {
    throw new ServiceError(
      "BAD_REQUEST",
      `mapping "${given}" is neither a preset (${Object.keys(MAPPING_PRESETS).join(", ")}) nor a readable JSON file`,
    );
  }
  try {
    return parseMapping(JSON.parse(text));
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    throw new ServiceError("BAD_REQUEST", `mapping file ${given} is not valid JSON`);
  }
}

function originalExt(rel: string, decoded: DecodedXray): string {
  const ext = path.extname(rel).slice(1).toLowerCase();
  if (/^[a-z0-9]{1,8}$/.test(ext)) return ext;
  return decoded.sourceFormat === "dicom" ? "dcm" : decoded.sourceFormat === "jpeg" ? "jpg" : "png";
}

export async function importXrays(opts: ImportXraysOptions): Promise<ImportXraysReport> {
  const t0 = performance.now();
  const { db, storage, actor } = opts;
  const dataset = await getDataset(db, { datasetId: opts.datasetId });
  const limits: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, ...opts.limits };
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 3, 8));

  let rootReal: string;
  try {
    rootReal = await realpath(path.resolve(opts.root));
    if (!(await stat(rootReal)).isDirectory()) throw new Error("not a folder");
  } catch {
    throw new ServiceError("BAD_REQUEST", `import folder not found: ${opts.root}`);
  }

  // Labels first: a CSV that does not fit the schema stops the run before any file is touched.
  let labels: { name: string; table: CsvTable } | null = opts.labels ?? null;
  if (!labels && opts.labelsCsv) {
    let text: string;
    try {
      text = await readFile(opts.labelsCsv, "utf8");
    } catch {
      throw new ServiceError("BAD_REQUEST", `labels CSV not readable: ${opts.labelsCsv}`);
    }
    labels = { name: path.basename(opts.labelsCsv), table: parseCsv(text) };
  }
  let mapping: LabelMapping | null = null;
  if (labels) {
    mapping = await loadMapping(opts.mapping, dataset.labelSchema, labels.table.header);
    checkMapping(mapping, dataset.labelSchema, labels.table.header);
  }

  // The files: given, or every candidate under the folder.
  const items = new Map<string, Item>();
  const refusedEarly: Item[] = [];
  let skipped: string[] = [];
  if (opts.files) {
    for (const f of opts.files) {
      const r = await resolveInside(rootReal, f, true);
      if (r.ok) items.set(r.rel, { rel: r.rel, abs: r.abs });
      else refusedEarly.push({ rel: f, abs: null, refusal: r.reason });
    }
  } else {
    const walked = await walkFolder(rootReal);
    skipped = walked.skipped;
    for (const rel of walked.candidates) items.set(rel, { rel, abs: null });
  }

  if (labels && mapping) {
    const seen = new Set<string>();
    for (const row of labels.table.rows) {
      const given = row[mapping.path] ?? "";
      if (given === "") continue;
      const r = await resolveInside(rootReal, given, false);
      if (!r.ok) {
        refusedEarly.push({ rel: given, abs: null, refusal: `labels CSV row: ${r.reason}` });
        // The same file found by the folder walk is not tried again (and not reported twice).
        if (r.rel) items.delete(r.rel);
        continue;
      }
      if (seen.has(r.rel)) {
        refusedEarly.push({ rel: given, abs: null, refusal: "labels CSV row: the file is listed twice" });
        continue;
      }
      seen.add(r.rel);
      const rowLabels = labelsOfRow(mapping, row);
      if ("error" in rowLabels) {
        refusedEarly.push({ rel: given, abs: null, refusal: `labels CSV row: ${rowLabels.error}` });
        items.delete(r.rel);
        continue;
      }
      const existing = items.get(r.rel);
      if (existing) {
        existing.labels = rowLabels;
        existing.csvRow = row;
      } else if (!opts.files) {
        items.set(r.rel, { rel: r.rel, abs: r.abs, labels: rowLabels, csvRow: row });
        skipped = skipped.filter((s) => s !== r.rel);
      }
    }
  }

  // Files with labels first: when the same bytes sit under two names, the labelled one is kept.
  const all = [...items.values()];
  const work = [...all.filter((i) => i.labels), ...all.filter((i) => !i.labels)];
  const source = opts.source ?? `${opts.root}${labels ? ` (labels: ${labels.name})` : ""}`;
  const [importRow] = await db
    .insert(imports)
    .values({ datasetId: dataset.id, startedBy: actor.id, source })
    .returning({ id: imports.id });
  const importId = importRow!.id;

  const refused: ImportIssue[] = refusedEarly.map((i) => ({ path: i.rel, reason: i.refusal ?? "refused" }));
  const duplicates: string[] = [];
  const totals: ImportTotals = {
    files: work.length + refusedEarly.length,
    imported: 0,
    duplicates: 0,
    refused: refused.length,
  };
  let labelled = 0;
  let done = refusedEarly.length;
  const progress = () =>
    opts.onProgress?.({
      done,
      total: totals.files,
      imported: totals.imported,
      duplicates: totals.duplicates,
      refused: refused.length,
    });
  const refuse = (rel: string, reason: string) => {
    refused.push({ path: rel, reason });
  };
  const seenInRun = new Map<string, string>();
  const defaults = opts.defaults ?? {};

  // The previous chunk's transaction runs while the next chunk is read and decoded.
  let pending: Promise<void> = Promise.resolve();
  try {
    progress();
    let next = 0;
    while (next < work.length) {
      // A chunk is up to CHUNK files or CHUNK_BYTES of them, whichever comes first: its bytes stay in
      // memory until decoded.
      const chunk: Item[] = [];
      let chunkBytes = 0;
      while (next < work.length && chunk.length < CHUNK && (chunk.length === 0 || chunkBytes < CHUNK_BYTES)) {
        const item = work[next++]!;
        const size = (await stat(item.abs ?? path.join(rootReal, item.rel)).catch(() => null))?.size ?? 0;
        if (size <= limits.maxBytes) chunkBytes += size;
        chunk.push(item);
      }
      // 1. Read and hash (size checks before reading, so a huge file is never loaded).
      const read = await mapPool(chunk, concurrency, async (item) => {
        const abs = item.abs ?? path.join(rootReal, item.rel);
        try {
          const real = await realpath(abs);
          if (!isInside(rootReal, real)) return { item, refusal: "symlink points outside the import folder" };
          const st = await stat(real);
          if (!st.isFile()) return { item, refusal: "not a regular file" };
          if (st.size === 0) return { item, refusal: "empty file (0 bytes)" };
          if (st.size > limits.maxBytes)
            return {
              item,
              refusal: `file is ${formatSize(st.size)}, over the ${formatSize(limits.maxBytes)} limit`,
            };
          const bytes = new Uint8Array(await readFile(real));
          return { item, bytes, sha256: sha256Hex(bytes) };
        } catch (err) {
          return {
            item,
            refusal: `file could not be read (${err instanceof Error ? err.message : String(err)})`,
          };
        }
      });
      const hashes = read.flatMap((r) => (r.sha256 ? [r.sha256] : []));
      const known = new Set(
        hashes.length === 0
          ? []
          : (
              await db
                .select({ sha256: images.sha256 })
                .from(images)
                .where(and(eq(images.datasetId, dataset.id), inArray(images.sha256, hashes)))
            ).map((r) => r.sha256),
      );
      const fresh: { item: Item; bytes: Uint8Array; sha256: string }[] = [];
      for (const r of read) {
        if (!r.sha256 || !r.bytes) {
          refuse(r.item.rel, r.refusal ?? "refused");
          continue;
        }
        if (known.has(r.sha256) || seenInRun.has(r.sha256)) {
          duplicates.push(r.item.rel);
          continue;
        }
        seenInRun.set(r.sha256, r.item.rel);
        fresh.push({ item: r.item, bytes: r.bytes, sha256: r.sha256 });
      }

      // 2. Decode and store the three files.
      const decoded = await mapPool(fresh, concurrency, async (f) => {
        try {
          const image = await decodeXray(f.bytes, f.item.rel, limits);
          const [original, normalized, thumbnail] = await Promise.all([
            storage.putBlob(f.bytes, originalExt(f.item.rel, image)),
            storage.putBlob(image.normalizedPng, "png"),
            storage.putBlob(image.thumbnail, image.thumbnailFormat),
          ]);
          return {
            ...f,
            image,
            keys: { original: original.key, normalized: normalized.key, thumbnail: thumbnail.key },
          };
        } catch (err) {
          if (isImageRefusal(err)) return { ...f, refusal: err.reason };
          // A full disk is not this file's fault: stop the run (caught below, the import fails with
          // the storage's message). This chunk's rows are not inserted, so no row lacks its files.
          if (isStorageFull(err)) throw err;
          return {
            ...f,
            refusal: `could not be decoded (${err instanceof Error ? err.message : String(err)})`,
          };
        }
      });

      // 3. One transaction per chunk: the images, then the gold labels of those that were new.
      const rows = decoded.flatMap((d) => {
        if (!("image" in d)) {
          refuse(d.item.rel, d.refusal);
          return [];
        }
        const l = d.item.labels;
        const imageId = randomUUID();
        const provenance: ImageProvenance = {
          sourcePath: d.item.rel,
          importId,
          normalization: d.image.normalization,
          ...(Object.keys(d.image.dicomTags).length > 0 ? { dicom: d.image.dicomTags } : {}),
          ...(d.item.csvRow ? { csv: d.item.csvRow } : {}),
        };
        return [
          {
            values: {
              id: imageId,
              datasetId: dataset.id,
              // Ranked from the start: the cold-start order (seeded random); a version re-ranks later.
              priority: seededPriority(COLD_START_SEED, imageId),
              sha256: d.sha256,
              originalKey: d.keys.original,
              normalizedKey: d.keys.normalized,
              thumbnailKey: d.keys.thumbnail,
              originalFilename: path.basename(d.item.rel),
              sourceFormat: d.image.sourceFormat,
              bitDepth: d.image.bitDepth,
              width: d.image.width,
              height: d.image.height,
              byteSize: d.bytes.byteLength,
              species: l?.species ?? d.image.species ?? defaults.species ?? null,
              bodyPart: l?.bodyPart ?? d.image.bodyPart ?? defaults.bodyPart ?? null,
              view: l?.view ?? d.image.view ?? defaults.view ?? null,
              split: l?.split ?? defaults.split ?? "train",
              provenance,
              readsNeeded: l?.gate ? 0 : dataset.readsPerImage,
            },
            rel: d.item.rel,
            gold: l?.gate ? { gate: l.gate, findings: l.findings } : null,
          },
        ];
      });
      await pending;
      const commit = async () => {
        if (rows.length === 0) return;
        const inserted = await db.transaction(async (tx) => {
          const got = await tx
            .insert(images)
            .values(rows.map((r) => r.values))
            .onConflictDoNothing({ target: [images.datasetId, images.sha256] })
            .returning({ id: images.id, sha256: images.sha256 });
          const idBySha = new Map(got.map((g) => [g.sha256, g.id]));
          const gold: {
            imageId: string;
            datasetId: string;
            gate: GateValue;
            findings: Record<string, FindingValue>;
            adjudicatedBy: string;
            reason: string;
          }[] = [];
          for (const r of rows) {
            const id = idBySha.get(r.values.sha256);
            if (id && r.gold)
              gold.push({
                imageId: id,
                datasetId: dataset.id,
                gate: r.gold.gate,
                findings: r.gold.findings,
                adjudicatedBy: actor.id,
                reason: `imported from ${labels?.name ?? "labels"}`,
              });
          }
          if (gold.length > 0) await tx.insert(goldLabels).values(gold);
          return { idBySha, gold: gold.length };
        });
        for (const r of rows) {
          // Not inserted: another run stored the same bytes between our check and our insert.
          if (inserted.idBySha.has(r.values.sha256)) totals.imported++;
          else duplicates.push(r.rel);
        }
        labelled += inserted.gold;
      };
      const chunkSize = chunk.length;
      pending = commit().then(() => {
        totals.duplicates = duplicates.length;
        totals.refused = refused.length;
        done += chunkSize;
        progress();
      });
      // Awaited at the next chunk or after the loop; this only keeps an early failure from being "unhandled".
      pending.catch(() => {});
    }
    await pending;
  } catch (err) {
    // The previous chunk's transaction may still be running: let it end, so the totals are final.
    await pending.catch(() => {});
    await db
      .update(imports)
      .set({
        status: "failed",
        totals,
        refusals: [
          ...refused.slice(0, MAX_STORED_REFUSALS),
          { path: "(import)", reason: err instanceof Error ? err.message : String(err) },
        ],
        finishedAt: sql`now()`,
      })
      .where(eq(imports.id, importId));
    throw err;
  }

  totals.duplicates = duplicates.length;
  totals.refused = refused.length;
  await db.transaction(async (tx) => {
    await tx
      .update(imports)
      .set({
        status: "finished",
        totals,
        refusals: refused.slice(0, MAX_STORED_REFUSALS),
        finishedAt: sql`now()`,
      })
      .where(eq(imports.id, importId));
    await recordAudit(tx, {
      actorId: actor.id,
      action: "import.run",
      resourceType: "import",
      resourceId: importId,
      datasetId: dataset.id,
      details: { source, ...totals, labelled },
    });
  });
  return {
    importId,
    totals,
    refused,
    duplicates,
    labelled,
    skipped,
    seconds: (performance.now() - t0) / 1000,
  };
}
