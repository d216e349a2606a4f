import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { goldLabels, images } from "@xray/db";
import { createLocalStorage } from "@xray/storage";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../../tests/db";
import { createDataset, KNEE_KL_SCHEMA } from "../datasets";
import { ensureSystemActor } from "./system-actor";
import { importUploads, sanitizeUploadName } from "./uploads";

const DATA = path.resolve(import.meta.dirname, "../../../../../shared/data");
const { db } = await useTestDatabase();
const tmp = mkdtempSync(path.join(os.tmpdir(), "xray-upload-test-"));
const storage = createLocalStorage(path.join(tmp, "s"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("importUploads", () => {
  it("sanitizes names, imports the uploaded bytes with their CSV labels and refuses the bad ones", async () => {
    expect(sanitizeUploadName("../../etc/passwd")).toBe("etc/passwd");
    expect(sanitizeUploadName("study 1\\img?.dcm")).toBe("study 1/img_.dcm");
    expect(sanitizeUploadName("..")).toBeNull();
    const actor = await ensureSystemActor(db);
    const ds = await createDataset(db, { name: "Uploads", labelSchema: KNEE_KL_SCHEMA, actor });
    const knee = readFileSync(path.join(DATA, "knee-oa-mini-224/images/4/9070207R.png"));
    const csv = "path,split,kl_grade,oa_kl_ge2\nknees/a.png,val,4,1\n../b.png,train,0,0\n";
    const report = await importUploads({
      db,
      storage,
      datasetId: ds.id,
      actor,
      mapping: "knee-kl",
      uploads: [
        { name: "knees/a.png", bytes: knee },
        { name: "notes.dcm", bytes: new TextEncoder().encode("hello, not a dicom file at all\n".repeat(8)) },
      ],
      labelsCsv: { name: "labels.csv", bytes: new TextEncoder().encode(csv) },
    });
    expect(report.totals).toEqual({ files: 3, imported: 1, duplicates: 0, refused: 2 });
    expect(report.refused.map((r) => r.path).sort()).toEqual(["../b.png", "notes.dcm"]);
    const [img] = await db.select().from(images).where(eq(images.datasetId, ds.id));
    expect(img).toMatchObject({ originalFilename: "a.png", split: "val", readsNeeded: 0 });
    const [gold] = await db.select().from(goldLabels).where(eq(goldLabels.imageId, img!.id));
    expect(gold?.findings.kl4).toBe("positive");
  });
});
