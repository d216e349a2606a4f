import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../tests/db";
import { datasets, images, users } from "./schema/index";

describe("migrations", () => {
  it("create every table and enforce the key constraints", async () => {
    const { db } = await useTestDatabase();
    const tables = await db.execute<{ table_name: string }>(
      sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`,
    );
    const names = tables.rows.map((r) => r.table_name);
    for (const t of ["users", "datasets", "images", "reads", "gold_labels", "leases", "model_versions"]) {
      expect(names).toContain(t);
    }
    const [u] = await db
      .insert(users)
      .values({ email: "A@x.org", role: "admin", passwordHash: "h" })
      .returning();
    await expect(
      db.insert(users).values({ email: "a@X.org", role: "lead", passwordHash: "h" }),
    ).rejects.toThrow();
    const [d] = await db
      .insert(datasets)
      .values({
        name: "d",
        labelSchema: { gate: { key: "abnormal", name: "Abnormal" }, findings: [] },
        createdBy: u!.id,
      })
      .returning();
    const row = {
      datasetId: d!.id,
      sha256: "ab",
      originalKey: "ab",
      normalizedKey: "cd",
      thumbnailKey: "ef",
      originalFilename: "x.png",
      sourceFormat: "png",
      bitDepth: 8,
      width: 1,
      height: 1,
      byteSize: 1,
      provenance: { sourcePath: "x.png" },
    };
    await db.insert(images).values(row);
    await expect(db.insert(images).values(row)).rejects.toThrow();
  });
});
