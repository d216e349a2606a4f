import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { auditEvents, goldLabels, images, imports } from "@xray/db";
import { pngDeclaring } from "@xray/imaging/testing";
import { createLocalStorage } from "@xray/storage";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../../tests/db";
import type { Actor } from "../actor";
import { createDataset, KNEE_KL_SCHEMA } from "../datasets";
import { ServiceError } from "../errors";
import { importXrays } from "./import";
import { ensureSystemActor } from "./system-actor";

const DATA = path.resolve(import.meta.dirname, "../../../../../shared/data");
const KNEE = path.join(DATA, "knee-oa-mini-224");
const THORAX = path.join(DATA, "dicom-samples/highdicom/data/test_files/dx_image.dcm");

const { db } = await useTestDatabase();
const tmp = mkdtempSync(path.join(os.tmpdir(), "xray-import-test-"));
const storage = createLocalStorage(path.join(tmp, "storage"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let actor: Actor;

beforeAll(async () => {
  actor = await ensureSystemActor(db);
});

const kneeRows = readFileSync(path.join(KNEE, "labels.csv"), "utf8").trim().split("\n").slice(1);

describe("importXrays on a hostile folder", () => {
  it("imports the good files, reports each bad one with its reason, and is idempotent", async () => {
    const root = path.join(tmp, "hostile");
    mkdirSync(path.join(root, "sub"), { recursive: true });
    const outside = path.join(tmp, "outside.png");
    copyFileSync(path.join(KNEE, kneeRows[1]!.split(",")[0]!), outside);
    copyFileSync(path.join(KNEE, kneeRows[0]!.split(",")[0]!), path.join(root, "good.png"));
    copyFileSync(THORAX, path.join(root, "sub", "thorax.dcm"));
    const png = readFileSync(path.join(KNEE, kneeRows[2]!.split(",")[0]!));
    writeFileSync(path.join(root, "truncated.png"), png.subarray(0, png.length / 2));
    writeFileSync(path.join(root, "notes.dcm"), "This is a text file, not a DICOM.\n".repeat(10));
    writeFileSync(path.join(root, "empty.png"), new Uint8Array(0));
    writeFileSync(path.join(root, "bomb.png"), pngDeclaring(100_000, 100_000));
    symlinkSync(outside, path.join(root, "link.png"));
    writeFileSync(path.join(root, "README.txt"), "not an image");
    writeFileSync(
      path.join(tmp, "hostile-labels.csv"),
      [
        "path,split,kl_grade,oa_kl_ge2",
        "good.png,val,3,1",
        "../outside.png,train,0,0",
        `${outside},train,0,0`,
        "sub/../../outside.png,train,1,0",
        "link.png,train,2,1",
      ].join("\n"),
    );
    const ds = await createDataset(db, {
      name: "Hostile",
      labelSchema: KNEE_KL_SCHEMA,
      actor,
      readsPerImage: 2,
    });
    const progress: number[] = [];
    const report = await importXrays({
      db,
      storage,
      datasetId: ds.id,
      root,
      labelsCsv: path.join(tmp, "hostile-labels.csv"),
      mapping: "knee-kl",
      actor,
      onProgress: (p) => progress.push(p.done),
    });
    const reasons = Object.fromEntries(report.refused.map((r) => [r.path, r.reason]));
    expect(report.totals.imported).toBe(2);
    expect(report.labelled).toBe(1);
    expect(reasons["truncated.png"]).toMatch(/PNG file is truncated|PNG could not be decoded/);
    expect(reasons["notes.dcm"]).toMatch(/not a DICOM file.*text/);
    expect(reasons["empty.png"]).toBe("empty file (0 bytes)");
    expect(reasons["bomb.png"]).toMatch(/100000 x 100000.*decompression bomb/);
    expect(reasons["../outside.png"]).toBe("labels CSV row: path escapes the import folder");
    expect(reasons[outside]).toMatch(/absolute paths are not allowed/);
    expect(reasons["sub/../../outside.png"]).toBe("labels CSV row: path escapes the import folder");
    expect(reasons["link.png"]).toMatch(/symlink points outside the import folder/);
    expect(report.totals).toEqual({ files: 10, imported: 2, duplicates: 0, refused: 8 });
    expect(report.skipped).toEqual(["README.txt"]);
    expect(progress.at(-1)).toBe(10);

    const rows = await db.select().from(images).where(eq(images.datasetId, ds.id));
    const good = rows.find((r) => r.originalFilename === "good.png")!;
    const thorax = rows.find((r) => r.originalFilename === "thorax.dcm")!;
    expect(good).toMatchObject({ split: "val", readsNeeded: 0, sourceFormat: "png", width: 224 });
    expect(thorax).toMatchObject({ split: "train", readsNeeded: 2, sourceFormat: "dicom", species: "dog" });
    expect(thorax.provenance.normalization).toContain("inverted (MONOCHROME1)");
    expect(thorax.provenance.dicom?.modality).toBe("DX");
    for (const key of [thorax.originalKey, thorax.normalizedKey, thorax.thumbnailKey])
      expect(await storage.exists(key)).toBe(true);
    expect(new Uint8Array(await storage.read(thorax.originalKey))).toEqual(
      new Uint8Array(readFileSync(THORAX)),
    );

    const gold = await db.select().from(goldLabels).where(eq(goldLabels.datasetId, ds.id));
    expect(gold).toHaveLength(1);
    expect(gold[0]).toMatchObject({
      imageId: good.id,
      gate: "abnormal",
      adjudicatedBy: actor.id,
      reason: "imported from hostile-labels.csv",
      findings: { kl0: "negative", kl1: "negative", kl2: "negative", kl3: "positive", kl4: "negative" },
    });

    const [run] = await db.select().from(imports).where(eq(imports.id, report.importId));
    expect(run).toMatchObject({ status: "finished", totals: report.totals, startedBy: actor.id });
    expect(run!.refusals).toHaveLength(8);
    const audit = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "import.run"), eq(auditEvents.resourceId, report.importId)));
    expect(audit).toHaveLength(1);

    const again = await importXrays({ db, storage, datasetId: ds.id, root, actor });
    expect(again.totals.imported).toBe(0);
    expect(again.totals.duplicates).toBe(2);
    expect(again.duplicates.sort()).toEqual(["good.png", "sub/thorax.dcm"]);
    expect(await db.$count(images, eq(images.datasetId, ds.id))).toBe(2);
  });
});

describe("importXrays with a labels CSV", () => {
  it("maps the knee layout onto the KL schema, sets splits and counts duplicates within a run", async () => {
    const root = path.join(tmp, "knee");
    const picked = kneeRows.filter((_, i) => i % 25 === 0); // 10 rows across the grades
    for (const r of picked) {
      const rel = r.split(",")[0]!;
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      copyFileSync(path.join(KNEE, rel), path.join(root, rel));
    }
    copyFileSync(path.join(KNEE, picked[0]!.split(",")[0]!), path.join(root, "copy-of-first.png"));
    const header = "path,split,kl_grade,oa_kl_ge2,patient_id,side";
    const withBlank = picked.map((r, i) => (i === 1 ? r.replace(/,val,\d,\d,/, ",train,,,") : r));
    writeFileSync(path.join(root, "labels.csv"), [header, ...withBlank].join("\n"));
    const ds = await createDataset(db, { name: "Knee subset", labelSchema: KNEE_KL_SCHEMA, actor });
    const report = await importXrays({
      db,
      storage,
      datasetId: ds.id,
      root,
      labelsCsv: path.join(root, "labels.csv"),
      mapping: "knee-kl",
      actor,
    });
    expect(report.totals).toEqual({ files: 11, imported: 10, duplicates: 1, refused: 0 });
    expect(report.duplicates).toEqual(["copy-of-first.png"]);
    expect(report.labelled).toBe(9);
    const gold = await db
      .select({
        findings: goldLabels.findings,
        gate: goldLabels.gate,
        csv: images.provenance,
        split: images.split,
      })
      .from(goldLabels)
      .innerJoin(images, eq(images.id, goldLabels.imageId))
      .where(eq(goldLabels.datasetId, ds.id));
    for (const g of gold) {
      const grade = Number(g.csv.csv?.kl_grade);
      expect(g.gate).toBe(grade >= 2 ? "abnormal" : "normal");
      expect(Object.entries(g.findings).filter(([, v]) => v === "positive")).toEqual([
        [`kl${grade}`, "positive"],
      ]);
      expect(g.split).toBe("val");
    }
    const unlabelled = await db
      .select()
      .from(images)
      .where(and(eq(images.datasetId, ds.id), eq(images.readsNeeded, 1)));
    expect(unlabelled).toHaveLength(1);
    expect(unlabelled[0]!.split).toBe("train");
  });

  it("refuses a mapping that does not fit the schema before touching any file", async () => {
    const ds = await createDataset(db, { name: "Canine", actor });
    const root = path.join(tmp, "knee");
    const err = await importXrays({
      db,
      storage,
      datasetId: ds.id,
      root,
      labelsCsv: path.join(root, "labels.csv"),
      mapping: "knee-kl",
      actor,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).message).toMatch(/finding "kl0" is not in the dataset's schema/);
    expect(await db.$count(imports, eq(imports.datasetId, ds.id))).toBe(0);
  });
});

describe("importXrays limits and races", () => {
  it("refuses a file over the size limit without reading it, and two runs at once store each image once", async () => {
    const root = path.join(tmp, "race");
    mkdirSync(root);
    for (const r of kneeRows.slice(0, 12)) {
      const rel = r.split(",")[0]!;
      copyFileSync(path.join(KNEE, rel), path.join(root, path.basename(rel)));
    }
    writeFileSync(path.join(root, "huge.dcm"), new Uint8Array(300_000));
    const ds = await createDataset(db, { name: "Race", actor });
    const run = () =>
      importXrays({
        db,
        storage,
        datasetId: ds.id,
        root,
        actor,
        limits: { maxBytes: 200_000 },
        concurrency: 2,
      });
    const [a, b] = await Promise.all([run(), run()]);
    for (const r of [a, b]) {
      expect(r.refused).toEqual([
        { path: "huge.dcm", reason: "file is 293.0 KiB, over the 195.3 KiB limit" },
      ]);
      expect(r.totals.imported + r.totals.duplicates).toBe(12);
    }
    expect(a.totals.imported + b.totals.imported).toBe(12);
    expect(await db.$count(images, eq(images.datasetId, ds.id))).toBe(12);
  });

  it("imports only the files given, resolved inside the root", async () => {
    const ds = await createDataset(db, { name: "Some files", actor });
    const root = path.join(tmp, "race");
    const names = kneeRows.slice(0, 2).map((r) => path.basename(r.split(",")[0]!));
    const report = await importXrays({
      db,
      storage,
      datasetId: ds.id,
      root,
      files: [names[0]!, path.join(root, names[1]!), "../outside.png"],
      actor,
    });
    expect(report.totals).toEqual({ files: 3, imported: 2, duplicates: 0, refused: 1 });
    expect(report.refused[0]).toEqual({ path: "../outside.png", reason: "path escapes the import folder" });
  });
});

describe("importXrays on the shared DICOM samples", () => {
  it("imports every DICOM or refuses it with a clear reason", async () => {
    const ds = await createDataset(db, { name: "DICOM samples", actor });
    const root = path.join(DATA, "dicom-samples");
    const report = await importXrays({ db, storage, datasetId: ds.id, root, actor });
    const dicoms = (await db.select().from(images).where(eq(images.datasetId, ds.id))).filter(
      (r) => r.sourceFormat === "dicom",
    );
    const refusedDicoms = report.refused.filter((r) => r.path.endsWith(".dcm"));
    expect(dicoms.length + refusedDicoms.length).toBe(11);
    for (const r of refusedDicoms) expect(r.reason.length).toBeGreaterThan(10);
    // The JPEG 2000 RGB files decode (OpenJPEG wasm), and the JPG copies beside them import too.
    expect(dicoms).toHaveLength(11);
    expect(report.totals.imported).toBe(31 + 1);
  });
});
