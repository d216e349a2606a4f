import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Context } from "@xray/api";
import type { SessionUser } from "@xray/auth/session";
import { createUser } from "@xray/core/users";
import { type Db, datasets, images, imports, type LabelSchema, type UserRole } from "@xray/db";
import { createLocalStorage, type Storage } from "@xray/storage";

export const TEST_SCHEMA: LabelSchema = {
  gate: { key: "abnormal", name: "Abnormal" },
  findings: [
    { key: "hip_dysplasia", name: "Hip dysplasia" },
    { key: "fracture", name: "Fracture" },
  ],
};

export interface ApiFixtures {
  db: Db;
  storage: Storage;
  users: Record<UserRole, SessionUser>;
  /** A user the admin procedures act on, so the callers keep their own access. */
  target: SessionUser;
  datasetId: string;
  otherDatasetId: string;
  imageId: string;
  otherImageId: string;
  importId: string;
}

let counter = 0;

/** Users of every role, two datasets with one image each and one import run, on a real database. */
export async function seedApiFixtures(db: Db): Promise<ApiFixtures> {
  const storage = createLocalStorage(mkdtempSync(path.join(os.tmpdir(), "xray-api-storage-")));
  const tag = `${process.pid}-${++counter}`;
  const make = async (role: UserRole, label: string): Promise<SessionUser> => {
    const u = await createUser(db, {
      email: `${label}-${tag}@test.local`,
      name: label,
      role,
      password: "Test-password-123",
      actor: null,
    });
    return { id: u.id, email: u.email, name: u.name, role: u.role, sessionVersion: 0 };
  };
  const users: Record<UserRole, SessionUser> = {
    annotator: await make("annotator", "annotator"),
    lead: await make("lead", "lead"),
    researcher: await make("researcher", "researcher"),
    admin: await make("admin", "admin"),
  };
  const target = await make("annotator", "target");
  const [ds, other] = await db
    .insert(datasets)
    .values([
      { name: `dataset-${tag}`, labelSchema: TEST_SCHEMA },
      { name: `other-${tag}`, labelSchema: TEST_SCHEMA },
    ])
    .returning({ id: datasets.id });
  if (!ds || !other) throw new Error("datasets not created");
  const imageRow = (datasetId: string, n: number) => ({
    datasetId,
    sha256: `${n}`.padStart(64, "0"),
    originalKey: `00/${`${n}`.padStart(64, "0")}.png`,
    normalizedKey: `00/${`${n}`.padStart(64, "0")}.png`,
    thumbnailKey: `00/${`${n}`.padStart(64, "0")}.png`,
    originalFilename: `img-${n}.png`,
    sourceFormat: "png",
    bitDepth: 8,
    width: 64,
    height: 64,
    byteSize: 100,
    provenance: { sourcePath: `img-${n}.png` },
  });
  const [img, otherImg] = await db
    .insert(images)
    .values([imageRow(ds.id, 1), imageRow(other.id, 2)])
    .returning({ id: images.id });
  if (!img || !otherImg) throw new Error("images not created");
  const [imp] = await db
    .insert(imports)
    .values({ datasetId: ds.id, source: "fixtures", status: "finished" })
    .returning({ id: imports.id });
  if (!imp) throw new Error("import not created");
  return {
    db,
    storage,
    users,
    target,
    datasetId: ds.id,
    otherDatasetId: other.id,
    imageId: img.id,
    otherImageId: otherImg.id,
    importId: imp.id,
  };
}

export function contextFor(f: ApiFixtures, user: SessionUser | null): Context {
  return { user, db: f.db, storage: f.storage };
}
