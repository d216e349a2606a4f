import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { goldLabels, images } from "@xray/db";
import { createLocalStorage } from "@xray/storage";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../../tests/db";
import { getDataset } from "../datasets";
import { CANINE_DEMO_DATASET, KNEE_DEMO_DATASET, seedDemo } from "./demo";

const { db } = await useTestDatabase();
const tmp = mkdtempSync(path.join(os.tmpdir(), "xray-demo-test-"));
const storage = createLocalStorage(path.join(tmp, "storage"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("seedDemo", () => {
  it("imports the knee demo with a patient-disjoint labelled val split and a train seed, then nothing", async () => {
    const first = await seedDemo({ db, storage });
    expect(first.knee.report?.totals).toEqual({ files: 227, imported: 227, duplicates: 0, refused: 0 });
    expect(first.canine.report?.totals).toMatchObject({ imported: 1, refused: 0 });

    const knee = await getDataset(db, { datasetId: first.knee.datasetId });
    expect(knee.name).toBe(KNEE_DEMO_DATASET);
    expect(knee.labelSchema.findings.map((f) => f.key)).toEqual(["kl0", "kl1", "kl2", "kl3", "kl4"]);
    const rows = await db
      .select({
        split: images.split,
        readsNeeded: images.readsNeeded,
        csv: images.provenance,
        gold: goldLabels.id,
      })
      .from(images)
      .leftJoin(goldLabels, eq(goldLabels.imageId, images.id))
      .where(eq(images.datasetId, knee.id));
    const patientOf = (r: (typeof rows)[number]) => r.csv.csv?.patient_id ?? "";
    const val = rows.filter((r) => r.split === "val");
    const train = rows.filter((r) => r.split === "train");
    const valPatients = new Set(val.map(patientOf));
    const trainPatients = new Set(train.map(patientOf));
    expect([...valPatients].filter((p) => trainPatients.has(p))).toEqual([]);
    const share = valPatients.size / (valPatients.size + trainPatients.size);
    expect(share).toBeGreaterThan(0.35);
    expect(share).toBeLessThan(0.45);
    expect(val.every((r) => r.gold !== null && r.readsNeeded === 0)).toBe(true);
    const seed = train.filter((r) => r.gold !== null);
    expect(seed.length).toBeGreaterThan(0.05 * train.length);
    expect(seed.length).toBeLessThan(0.15 * train.length);
    expect(train.filter((r) => r.gold === null).every((r) => r.readsNeeded === 1)).toBe(true);

    const canine = await getDataset(db, { datasetId: first.canine.datasetId });
    expect(canine.name).toBe(CANINE_DEMO_DATASET);
    expect(canine.labelSchema.findings).toHaveLength(7);
    const [dog] = await db.select().from(images).where(eq(images.datasetId, canine.id));
    expect(dog).toMatchObject({ species: "dog", sourceFormat: "dicom" });

    const second = await seedDemo({ db, storage });
    expect(second.knee).toEqual({ datasetId: knee.id, report: null });
    expect(second.canine).toEqual({ datasetId: canine.id, report: null });
    expect(await db.$count(images)).toBe(228);
  });
});
