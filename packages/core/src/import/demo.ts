/**
 * First-start demo data: the 227 bundled knee radiographs and the canine thorax DICOM (demo/README.md).
 * Idempotent: datasets are found by name and a dataset that already holds all its demo files is left
 * alone, so a second start imports nothing.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Db, images, type LabelSchema } from "@xray/db";
import type { Storage } from "@xray/storage";
import { count, eq } from "drizzle-orm";
import type { Actor } from "../actor";
import {
  createDataset,
  type Dataset,
  DEFAULT_CANINE_MSK_SCHEMA,
  findDatasetByName,
  KNEE_KL_SCHEMA,
} from "../datasets";
import { ServiceError } from "../errors";
import { type CsvTable, parseCsv } from "./csv";
import { type ImportXraysReport, importXrays } from "./import";
import { KNEE_KL_MAPPING } from "./mapping";
import { ensureSystemActor } from "./system-actor";

export const KNEE_DEMO_DATASET = "Knee OA demo (KL grades stand in for findings)";
export const CANINE_DEMO_DATASET = "Canine MSK";

/** The repo's demo/ folder. */
export const DEMO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../demo");

export interface SeedDemoOptions {
  db: Db;
  storage: Storage;
  /** Who the imports and gold labels name; default the disabled system account. */
  actor?: Actor;
  log?: (line: string) => void;
  demoDir?: string;
  /** Fraction of knee patients held out as the labelled val split (default 0.4). */
  valFraction?: number;
  /** Fraction of the remaining patients labelled as a train seed (default 0.1). */
  trainSeedFraction?: number;
}

export interface SeedDemoResult {
  knee: { datasetId: string; report: ImportXraysReport | null };
  canine: { datasetId: string; report: ImportXraysReport | null };
}

function patientRank(patientId: string): string {
  return createHash("sha256").update(`demo-split:${patientId}`).digest("hex");
}

/**
 * The demo's split of the knee labels: patient-disjoint (both knees of a patient together), ~40% of
 * patients val with labels, ~10% of the rest a labelled train seed, the other train rows unlabelled.
 */
export function demoKneeTable(
  table: CsvTable,
  valFraction = 0.4,
  trainSeedFraction = 0.1,
): { table: CsvTable; val: number; trainLabelled: number; unlabelled: number } {
  const patients = [...new Set(table.rows.map((r) => r.patient_id ?? r.path ?? ""))].sort((a, b) =>
    patientRank(a).localeCompare(patientRank(b)),
  );
  const valCount = Math.round(patients.length * valFraction);
  const val = new Set(patients.slice(0, valCount));
  const seed = new Set(
    patients.slice(valCount, valCount + Math.round((patients.length - valCount) * trainSeedFraction)),
  );
  let nVal = 0;
  let nSeed = 0;
  let nUnlabelled = 0;
  const rows = table.rows.map((r) => {
    const p = r.patient_id ?? r.path ?? "";
    if (val.has(p)) {
      nVal++;
      return { ...r, split: "val" };
    }
    if (seed.has(p)) {
      nSeed++;
      return { ...r, split: "train" };
    }
    nUnlabelled++;
    return { ...r, split: "train", kl_grade: "", oa_kl_ge2: "" };
  });
  return { table: { header: table.header, rows }, val: nVal, trainLabelled: nSeed, unlabelled: nUnlabelled };
}

async function findOrCreate(db: Db, name: string, schema: LabelSchema, description: string, actor: Actor) {
  const existing = await findDatasetByName(db, name);
  if (existing) return existing;
  try {
    return await createDataset(db, { name, labelSchema: schema, description, actor });
  } catch (err) {
    if (err instanceof ServiceError && err.code === "CONFLICT") {
      const raced = await findDatasetByName(db, name);
      if (raced) return raced;
    }
    throw err;
  }
}

async function imageCount(db: Db, dataset: Dataset): Promise<number> {
  const [row] = await db.select({ n: count() }).from(images).where(eq(images.datasetId, dataset.id));
  return row?.n ?? 0;
}

export async function seedDemo(opts: SeedDemoOptions): Promise<SeedDemoResult> {
  const { db, storage } = opts;
  const log = opts.log ?? (() => {});
  const demoDir = opts.demoDir ?? DEMO_DIR;
  const actor = opts.actor ?? (await ensureSystemActor(db));

  const kneeDir = path.join(demoDir, "knee-oa-mini-224");
  const source = parseCsv(await readFile(path.join(kneeDir, "labels.csv"), "utf8"));
  const knee = await findOrCreate(
    db,
    KNEE_DEMO_DATASET,
    KNEE_KL_SCHEMA,
    "227 knee radiographs (Chen 2018, CC BY 4.0, OAI). KL grades 0-4 stand in for the 7 canine findings; abnormal = KL >= 2.",
    actor,
  );
  let kneeReport: ImportXraysReport | null = null;
  if ((await imageCount(db, knee)) >= source.rows.length) {
    log(`demo: "${knee.name}" already holds its ${source.rows.length} images`);
  } else {
    const split = demoKneeTable(source, opts.valFraction, opts.trainSeedFraction);
    log(
      `demo: importing ${source.rows.length} knee images (${split.val} val labelled, ${split.trainLabelled} train labelled, ${split.unlabelled} unlabelled)`,
    );
    kneeReport = await importXrays({
      db,
      storage,
      datasetId: knee.id,
      root: kneeDir,
      labels: { name: "labels.csv (demo split)", table: split.table },
      mapping: KNEE_KL_MAPPING,
      defaults: { species: "human", bodyPart: "knee" },
      actor,
      source: "demo/knee-oa-mini-224",
    });
    log(
      `demo: knee import ${kneeReport.totals.imported} imported, ${kneeReport.totals.duplicates} duplicates, ${kneeReport.totals.refused} refused, ${kneeReport.labelled} labelled`,
    );
  }

  const canine = await findOrCreate(
    db,
    CANINE_DEMO_DATASET,
    DEFAULT_CANINE_MSK_SCHEMA,
    "Canine musculoskeletal radiographs (7 findings). Demo: one canine lateral thorax DICOM (highdicom, MIT).",
    actor,
  );
  let canineReport: ImportXraysReport | null = null;
  if ((await imageCount(db, canine)) >= 1) {
    log(`demo: "${canine.name}" already holds its DICOM`);
  } else {
    canineReport = await importXrays({
      db,
      storage,
      datasetId: canine.id,
      root: path.join(demoDir, "canine-dicom"),
      files: ["canine-lateral-thorax.dcm"],
      defaults: { species: "dog" },
      actor,
      source: "demo/canine-dicom",
    });
    log(
      `demo: canine DICOM ${canineReport.totals.imported} imported, ${canineReport.totals.refused} refused`,
    );
  }
  return {
    knee: { datasetId: knee.id, report: kneeReport },
    canine: { datasetId: canine.id, report: canineReport },
  };
}
