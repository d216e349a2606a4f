import { describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../tests/db";
import {
  createDataset,
  DEFAULT_CANINE_MSK_SCHEMA,
  getDataset,
  listDatasets,
  updateDatasetSchema,
  validateLabelSchema,
} from "./datasets";
import { ServiceError } from "./errors";

const { db } = await useTestDatabase();

describe("datasets", () => {
  it("creates with the canine schema by default, refuses duplicates and bad schemas, edits the schema", async () => {
    const d = await createDataset(db, { name: "Clinic A", actor: null });
    expect(d.labelSchema).toEqual(DEFAULT_CANINE_MSK_SCHEMA);
    expect(d.labelSchema.findings.map((f) => f.key)).toEqual([
      "patellar_luxation",
      "hip_dysplasia",
      "cranial_cruciate_ligament_rupture",
      "fracture",
      "degenerative_joint_disease",
      "legg_calve_perthes_disease",
      "intervertebral_disc_disease",
    ]);
    await expect(createDataset(db, { name: "Clinic A", actor: null })).rejects.toThrow(/already exists/);
    expect(() =>
      validateLabelSchema({
        gate: { key: "abnormal", name: "A" },
        findings: [{ key: "Hip Dysplasia", name: "x" }],
      }),
    ).toThrow(ServiceError);
    expect(() =>
      validateLabelSchema({
        gate: { key: "abnormal", name: "A" },
        findings: [
          { key: "fracture", name: "x" },
          { key: "fracture", name: "y" },
        ],
      }),
    ).toThrow(/duplicate label key "fracture"/);

    const updated = await updateDatasetSchema(db, {
      datasetId: d.id,
      labelSchema: {
        gate: DEFAULT_CANINE_MSK_SCHEMA.gate,
        findings: [{ key: "fracture", name: "Fracture" }],
      },
      actor: null,
    });
    expect(updated.labelSchema.findings).toHaveLength(1);
    expect((await getDataset(db, { datasetId: d.id })).labelSchema.findings).toHaveLength(1);
    await expect(getDataset(db, { datasetId: "not-a-uuid" })).rejects.toThrow(/not found/);
    expect((await listDatasets(db)).map((x) => [x.name, x.imageCount])).toEqual([["Clinic A", 0]]);
  });
});
