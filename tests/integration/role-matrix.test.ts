/**
 * Calls every procedure of the app router as anonymous and as every role, and holds each answer to
 * the table below. A procedure without a row fails the test: whoever adds a procedure decides, here,
 * who may call it.
 */
import { TRPCError } from "@trpc/server";
import { appRouter, createCaller } from "@xray/api";
import { images, USER_ROLES, type UserRole } from "@xray/db";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../db";
import { type ApiFixtures, contextFor, seedApiFixtures } from "./fixtures";

type Allowed = "public" | readonly UserRole[];
interface MatrixRow {
  allow: Allowed;
  /** A valid-enough input: it passes validation, so the answer is about authorization. */
  input?: (f: ApiFixtures) => unknown;
}

const ALL: readonly UserRole[] = USER_ROLES;

export const MATRIX: Record<string, MatrixRow> = {
  "session.get": { allow: "public" },
  "session.me": { allow: ALL },
  "datasets.list": { allow: ALL },
  "datasets.get": { allow: ALL, input: (f) => ({ id: f.datasetId }) },
  "datasets.create": { allow: ["admin"], input: () => ({ name: "matrix dataset" }) },
  "datasets.updateSchema": {
    allow: ["admin"],
    input: (f) => ({
      id: f.datasetId,
      labelSchema: {
        gate: { key: "abnormal", name: "Abnormal" },
        findings: [{ key: "fracture", name: "Fracture" }],
      },
    }),
  },
  "datasets.updateSettings": {
    allow: ["lead", "admin"],
    input: (f) => ({ id: f.datasetId, readingMode: "assisted", readsPerImage: 2 }),
  },
  "images.list": { allow: ALL, input: (f) => ({ datasetId: f.datasetId, page: 1 }) },
  "images.get": { allow: ALL, input: (f) => ({ id: f.imageId }) },
  "users.list": { allow: ["admin"] },
  "users.create": {
    allow: ["admin"],
    input: () => ({ email: "matrix-new@test.local", role: "annotator", password: "Matrix-password-1" }),
  },
  "users.setDisabled": { allow: ["admin"], input: (f) => ({ userId: f.target.id, disabled: false }) },
  "users.setRole": { allow: ["admin"], input: (f) => ({ userId: f.target.id, role: "annotator" }) },
  "imports.list": { allow: ["admin"], input: () => ({}) },
  "imports.get": { allow: ["admin"], input: (f) => ({ id: f.importId }) },
  "review.queue": { allow: ["lead"], input: (f) => ({ datasetId: f.datasetId, kind: "readers" }) },
  "review.item": { allow: ["lead"], input: (f) => ({ imageId: f.imageId }) },
  "review.adjudicate": {
    allow: ["lead"],
    input: (f) => ({
      imageId: f.imageId,
      gate: "abnormal",
      findings: { fracture: "positive" },
      reason: "matrix",
    }),
  },
  "review.revert": { allow: ["lead"], input: (f) => ({ imageId: f.imageId, reason: "matrix" }) },
  "review.agreement": { allow: ["lead", "researcher"], input: (f) => ({ datasetId: f.datasetId }) },
  "rounds.list": { allow: ["lead", "researcher"], input: (f) => ({ datasetId: f.datasetId }) },
  "rounds.get": { allow: ["lead", "researcher"], input: () => ({ id: crypto.randomUUID() }) },
  "rounds.estimate": { allow: ["researcher"], input: (f) => ({ datasetId: f.datasetId, config: {} }) },
  "rounds.start": { allow: ["researcher"], input: (f) => ({ datasetId: f.datasetId, config: {} }) },
  "rounds.cancel": { allow: ["researcher"], input: () => ({ id: crypto.randomUUID() }) },
  "versions.list": { allow: ["lead", "researcher"], input: (f) => ({ datasetId: f.datasetId }) },
  "versions.get": { allow: ["lead", "researcher"], input: () => ({ id: crypto.randomUUID() }) },
  "versions.compare": {
    allow: ["lead", "researcher"],
    input: () => ({ versionA: crypto.randomUUID(), versionB: crypto.randomUUID() }),
  },
  "versions.promote": { allow: ["researcher"], input: () => ({ id: crypto.randomUUID() }) },
  "audit.list": { allow: ["admin"], input: () => ({}) },
  "queue.next": { allow: ["annotator", "lead"], input: (f) => ({ datasetId: f.datasetId }) },
  "queue.peek": { allow: ["annotator", "lead"], input: (f) => ({ datasetId: f.datasetId }) },
  "queue.release": { allow: ["annotator", "lead"], input: (f) => ({ imageId: f.imageId }) },
  "queue.mine": { allow: ["annotator", "lead"], input: () => ({}) },
  "queue.assist": { allow: ALL, input: (f) => ({ imageId: f.imageId }) },
  "reads.submit": {
    allow: ["annotator", "lead"],
    input: (f) => ({ imageId: f.imageId, gate: "normal", findings: {}, timeSpentMs: 1000 }),
  },
  "reads.skip": { allow: ["annotator", "lead"], input: (f) => ({ imageId: f.imageId, reason: "blurred" }) },
  "reads.flag": { allow: ["annotator", "lead"], input: (f) => ({ imageId: f.imageId }) },
  "reads.undo": { allow: ["annotator", "lead"], input: () => ({}) },
  "reads.change": {
    allow: ["annotator", "lead"],
    input: (f) => ({ imageId: f.imageId, gate: "abnormal", findings: { fracture: "positive" } }),
  },
  "reads.mine": { allow: ["annotator", "lead"], input: () => ({}) },
};

const procedurePaths = Object.keys(appRouter._def.procedures).sort();

function procedureOf(caller: unknown, path: string): (input: unknown) => Promise<unknown> {
  let node: unknown = caller;
  for (const part of path.split(".")) {
    if ((typeof node !== "object" && typeof node !== "function") || node === null)
      throw new Error(`no procedure at ${path}`);
    node = Reflect.get(node, part);
  }
  if (typeof node !== "function") throw new Error(`no procedure at ${path}`);
  return (input) => Promise.resolve(Reflect.apply(node, undefined, [input]));
}

type Outcome = "ok" | TRPCError["code"];
async function outcomeOf(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    await call();
    return "ok";
  } catch (err) {
    if (err instanceof TRPCError) return err.code;
    throw err;
  }
}

describe("role matrix", () => {
  const tdb = useTestDatabase();
  let f: ApiFixtures;
  beforeAll(async () => {
    f = await seedApiFixtures((await tdb).db);
  });

  it("has exactly one row per procedure of the app router", () => {
    const missing = procedurePaths.filter((p) => !(p in MATRIX));
    const stale = Object.keys(MATRIX).filter((p) => !procedurePaths.includes(p));
    expect(missing, "procedures without a role-matrix row: add them to MATRIX").toEqual([]);
    expect(stale, "role-matrix rows for procedures that no longer exist").toEqual([]);
    expect(procedurePaths.length).toBeGreaterThan(0);
  });

  it.each(procedurePaths)("%s answers anonymous and every role as the table says", async (path) => {
    const row = MATRIX[path];
    if (!row) throw new Error(`no role-matrix row for ${path}`);
    const input = row.input?.(f);
    const anonymous = await outcomeOf(() => procedureOf(createCaller(contextFor(f, null)), path)(input));
    if (row.allow === "public")
      expect(anonymous, `${path} as anonymous`).not.toMatch(/UNAUTHORIZED|FORBIDDEN/);
    else expect(anonymous, `${path} as anonymous`).toBe("UNAUTHORIZED");
    for (const role of USER_ROLES) {
      const outcome = await outcomeOf(() =>
        procedureOf(createCaller(contextFor(f, f.users[role])), path)(input),
      );
      const allowed = row.allow === "public" || row.allow.includes(role);
      if (allowed) {
        // Valid-enough inputs: an allowed call must not be refused, nor fail on the server.
        expect(outcome, `${path} as ${role}`).not.toMatch(/UNAUTHORIZED|FORBIDDEN|INTERNAL_SERVER_ERROR/);
      } else {
        expect(outcome, `${path} as ${role}`).toBe("FORBIDDEN");
      }
    }
  });
});

describe("scoping and service errors", () => {
  const tdb = useTestDatabase();
  let f: ApiFixtures;
  beforeAll(async () => {
    f = await seedApiFixtures((await tdb).db);
  });

  it("answers NOT_FOUND for an image asked for under another dataset, and for an unknown id", async () => {
    const caller = createCaller(contextFor(f, f.users.annotator));
    await expect(caller.images.get({ id: f.otherImageId, datasetId: f.datasetId })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(caller.images.get({ id: crypto.randomUUID() })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const found = await caller.images.get({ id: f.imageId, datasetId: f.datasetId });
    expect(found.datasetId).toBe(f.datasetId);
  });

  it("lists images by dataset, split and labelled state with paging", async () => {
    const caller = createCaller(contextFor(f, f.users.researcher));
    const all = await caller.images.list({ pageSize: 1 });
    expect(all.total).toBe(2);
    expect(all.items).toHaveLength(1);
    expect(all.pageCount).toBe(2);
    const one = await caller.images.list({ datasetId: f.datasetId });
    expect(one.items.map((i) => i.id)).toEqual([f.imageId]);
    expect((await caller.images.list({ split: "test" })).total).toBe(0);
    expect((await caller.images.list({ labelled: true })).total).toBe(0);
    expect((await caller.images.list({ labelled: false })).total).toBe(2);
  });

  it("maps service errors to tRPC codes and refuses bad input", async () => {
    const caller = createCaller(contextFor(f, f.users.admin));
    const input = { email: "first@test.local", role: "lead" as const, password: "Duplicate-pass-1" };
    await caller.users.create(input);
    await expect(caller.users.create(input)).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(
      caller.users.create({ ...input, email: "weak@test.local", password: "short" }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.images.get({ id: "../etc/passwd" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(
      caller.users.setDisabled({ userId: f.users.admin.id, disabled: true }),
    ).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
  });

  it("lets a lead change reads per image, and the queue's readsNeeded follows", async () => {
    const caller = createCaller(contextFor(f, f.users.lead));
    const updated = await caller.datasets.updateSettings({ id: f.datasetId, readsPerImage: 3 });
    expect(updated.readsPerImage).toBe(3);
    const [row] = await f.db.select({ n: images.readsNeeded }).from(images).where(eq(images.id, f.imageId));
    expect(row?.n).toBe(3);
    const [other] = await f.db
      .select({ n: images.readsNeeded })
      .from(images)
      .where(eq(images.id, f.otherImageId));
    expect(other?.n).toBe(1);
  });

  it("counts images per dataset on the home page list", async () => {
    const caller = createCaller(contextFor(f, f.users.lead));
    const list = await caller.datasets.list();
    const mine = list.find((d) => d.id === f.datasetId);
    expect(mine?.images).toBe(1);
    expect(mine?.splits.train).toBe(1);
    expect(mine?.labelled).toBe(0);
  });
});
