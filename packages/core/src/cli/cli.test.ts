import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { images } from "@xray/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../../../tests/db";
import { runCli } from "./main";

const DATA = path.resolve(import.meta.dirname, "../../../../../shared/data");
const { db, url } = await useTestDatabase();
const saved = { DATABASE_URL: process.env.DATABASE_URL, XRAY_DATA_DIR: process.env.XRAY_DATA_DIR };
const tmp = mkdtempSync(path.join(os.tmpdir(), "xray-cli-test-"));

beforeAll(() => {
  process.env.DATABASE_URL = url;
  process.env.XRAY_DATA_DIR = path.join(tmp, "data");
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    argv,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("pnpm xray", () => {
  it("prints help for every command and exits 2 on bad usage", async () => {
    for (const c of [
      ["import"],
      ["user", "add"],
      ["user", "list"],
      ["dataset", "create"],
      ["dataset", "list"],
    ]) {
      const r = await cli(...c, "--help");
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^Usage: pnpm xray/);
    }
    expect((await cli("user", "--help")).out).toMatch(/user add +create a user/);
    expect((await cli("dataset")).code).toBe(2);
    expect((await cli("import", tmp)).code).toBe(2);
    expect((await cli("frobnicate")).code).toBe(2);
    expect((await cli("user", "add", "--email", "a@b.c", "--role", "king")).err).toMatch(
      /--role must be one of/,
    );
    expect((await cli("import", tmp, "--dataset", "Nope")).err).toMatch(/add --create/);
  });

  it("imports a folder with a summary, then reports duplicates; manages users and datasets", async () => {
    const root = path.join(tmp, "in");
    mkdirSync(root);
    copyFileSync(path.join(DATA, "knee-oa-mini-224/images/0/9006140L.png"), path.join(root, "a.png"));
    writeFileSync(path.join(root, "empty.dcm"), "");
    const first = await cli(
      "import",
      root,
      "--dataset",
      "Stifles",
      "--create",
      "--species",
      "dog",
      "--body-part",
      "stifle",
    );
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/imported: +1/);
    expect(first.out).toMatch(/refused: +1\n +empty\.dcm: empty file \(0 bytes\)/);
    const [img] = await db.select().from(images);
    expect(img).toMatchObject({ species: "dog", bodyPart: "stifle" });
    const second = await cli("import", root, "--dataset", "Stifles");
    expect(second.code).toBe(0);
    expect(second.out).toMatch(/imported: +0/);
    expect(second.out).toMatch(/duplicates: +1/);

    const added = await cli("user", "add", "--email", "vet@clinic.test", "--role", "annotator");
    expect(added.code).toBe(0);
    expect(added.out).toMatch(/password \(shown once\): \S{16,}/);
    expect((await cli("user", "list")).out).toMatch(/vet@clinic\.test +annotator +active/);
    expect((await cli("dataset", "create", "--name", "Knees", "--schema", "knee-kl")).out).toMatch(
      /kl0, kl1/,
    );
    expect((await cli("dataset", "list")).out).toMatch(/Stifles +1 images +7 findings/);
  });
});
