import { type FindingValue, type GateValue, goldLabels } from "@xray/db";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../tests/db";
import type { Actor } from "./actor";
import { consensusOf, csvCell, exportLabels, exportLabelsCsv, labelFor, trainingLabels } from "./labels";
import { seedDataset, seedImages, seedReads, seedUsers, TEST_SCHEMA } from "./queue.fixtures";

const { db } = await useTestDatabase({ max: 5 });
let u: Actor[] = [];
let lead: Actor;

beforeAll(async () => {
  u = await seedUsers(db, "annotator", 3);
  [lead] = (await seedUsers(db, "lead", 1)) as [Actor];
});
const uid = (i: number) => (u[i] as Actor).id;

describe("consensus rules", () => {
  it("majority needs more than half; unanimous needs all; uncertain never trains", () => {
    expect(consensusOf(["positive", "positive", "negative"], "majority")).toBe("positive");
    expect(consensusOf(["positive", "negative"], "majority")).toBeNull();
    expect(consensusOf(["positive", "uncertain"], "majority")).toBeNull();
    expect(consensusOf(["uncertain"], "majority")).toBeNull();
    expect(consensusOf(["positive", "positive", "negative"], "unanimous")).toBeNull();
    expect(consensusOf(["negative", "negative"], "unanimous")).toBe("negative");
    expect(consensusOf([], "majority")).toBeNull();
  });

  it("a normal gate makes every finding negative; gold overrides the reads", () => {
    const reads: { gate: GateValue; findings: Record<string, FindingValue> }[] = [
      { gate: "abnormal", findings: { fracture: "positive" } },
      { gate: "abnormal", findings: { fracture: "positive", effusion: "uncertain" } },
      { gate: "normal", findings: {} },
    ];
    const c = labelFor(TEST_SCHEMA, { gold: null, reads }, "majority");
    expect(c.gate).toBe("abnormal");
    expect(c.findings).toEqual({ fracture: "positive", effusion: null, osteophytes: "negative" });
    expect(c.mask).toEqual({ abnormal: 1, fracture: 1, effusion: 0, osteophytes: 1 });
    expect(c.targets).toEqual({ abnormal: 1, fracture: 1, effusion: 0, osteophytes: 0 });
    const g = labelFor(TEST_SCHEMA, { gold: { gate: "normal", findings: {} }, reads }, "majority");
    expect(g).toMatchObject({ source: "gold", gate: "normal" });
    expect(g.mask).toEqual({ abnormal: 1, fracture: 1, effusion: 1, osteophytes: 1 });
    expect(g.targets.fracture).toBe(0);
  });
});

describe("trainingLabels", () => {
  it("uses gold where adjudicated, consensus elsewhere, ignores skips, and hashes the snapshot", async () => {
    const datasetId = await seedDataset(db, { readsPerImage: 2 });
    const [a, b, c, d] = (await seedImages(db, { datasetId, count: 4, returnIds: true })) as [
      string,
      string,
      string,
      string,
    ];
    await seedReads(db, datasetId, [
      // a: two agreeing abnormal reads.
      {
        imageId: a,
        userId: uid(0),
        gate: "abnormal",
        findings: { fracture: "positive", effusion: "negative" },
      },
      {
        imageId: a,
        userId: uid(1),
        gate: "abnormal",
        findings: { fracture: "positive", effusion: "positive" },
      },
      // b: readers disagree on the gate, and a lead overturned both.
      { imageId: b, userId: uid(0), gate: "abnormal", findings: { fracture: "positive" } },
      { imageId: b, userId: uid(1), gate: "normal" },
      // c: only a skip.
      { imageId: c, userId: uid(0), kind: "skip" },
    ]);
    await db
      .insert(goldLabels)
      .values({ imageId: b, datasetId, gate: "normal", findings: {}, adjudicatedBy: lead.id });
    const maj = await trainingLabels(db, { datasetId, consensus: "majority" });
    expect(maj.heads).toEqual(["abnormal", "fracture", "effusion", "osteophytes"]);
    expect(maj.labels.map((l) => l.imageId).sort()).toEqual([a, b].sort());
    const la = maj.labels.find((l) => l.imageId === a);
    expect(la).toMatchObject({ source: "consensus", gate: "abnormal" });
    expect(la?.mask).toEqual({ abnormal: 1, fracture: 1, effusion: 0, osteophytes: 0 });
    const lb = maj.labels.find((l) => l.imageId === b);
    expect(lb).toMatchObject({ source: "gold", gate: "normal" });
    expect(lb?.targets.fracture).toBe(0);
    expect(maj.snapshot.count).toBe(2);
    expect(maj.snapshot.perHead).toEqual({
      abnormal: { positive: 1, negative: 1 },
      fracture: { positive: 1, negative: 1 },
      effusion: { positive: 0, negative: 1 },
      osteophytes: { positive: 0, negative: 1 },
    });
    // The hash is stable for the same labels and changes when a label changes.
    const again = await trainingLabels(db, { datasetId, consensus: "majority" });
    expect(again.snapshot.hash).toBe(maj.snapshot.hash);
    await seedReads(db, datasetId, [{ imageId: d, userId: uid(2), gate: "normal" }]);
    const more = await trainingLabels(db, { datasetId });
    expect(more.snapshot.hash).not.toBe(maj.snapshot.hash);
    expect(more.snapshot.count).toBe(3);
    // Unanimous: image a's effusion disagreement stays masked, its fracture still trains.
    const una = await trainingLabels(db, { datasetId, consensus: "unanimous" });
    expect(una.labels.find((l) => l.imageId === a)?.mask.fracture).toBe(1);
  });

  it("refuses an unknown dataset", async () => {
    await expect(
      trainingLabels(db, { datasetId: "00000000-0000-0000-0000-000000000000" }),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });
});

describe("export", () => {
  it("neutralises spreadsheet formulas and quotes CSV cells", () => {
    expect(csvCell("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-2")).toBe("'-2");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvCell("\tx")).toBe("'\tx");
    expect(csvCell("\rx")).toBe(`"'\rx"`);
    expect(csvCell('say "hi", ok')).toBe('"say ""hi"", ok"');
    expect(csvCell(-3)).toBe("-3");
    expect(csvCell(null)).toBe("");
  });

  it("exports reads and gold rows per image", async () => {
    const datasetId = await seedDataset(db);
    const [a] = (await seedImages(db, { datasetId, count: 2, returnIds: true })) as [string];
    await seedReads(db, datasetId, [
      { imageId: a, userId: uid(0), gate: "abnormal", findings: { fracture: "positive" }, flagged: true },
    ]);
    await db.insert(goldLabels).values({
      imageId: a,
      datasetId,
      gate: "abnormal",
      findings: { fracture: "negative" },
      adjudicatedBy: lead.id,
      reason: "=cmd|' /C calc'!A0",
    });
    const rows = await exportLabels(db, { datasetId });
    expect(rows).toHaveLength(1);
    expect(rows[0]?.reads).toHaveLength(1);
    expect(rows[0]?.gold?.gate).toBe("abnormal");
    const csv = await exportLabelsCsv(db, { datasetId });
    const lines = csv.trim().split("\r\n");
    expect(lines[0]).toBe(
      "image_id,filename,split,source,annotator,gate,fracture,effusion,osteophytes,flagged,flag_reason,skip_reason,reason,time_spent_ms,at",
    );
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain(",read,");
    expect(lines[2]).toContain(",gold,");
    expect(lines[2]).toContain(",'=cmd|' /C calc'!A0,");
  });
});
