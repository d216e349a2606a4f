/**
 * Fault (docs/security.md): the disk fills up during an import.
 *
 * The storage lives on a real 4 MiB tmpfs, mounted in a private mount namespace (`unshare -m` as
 * root, `unshare -rm` otherwise) around a child process that runs the import service
 * (fault-disk-full.child.ts); the database is the test's own. Something else fills the disk to
 * ~160 KiB free, an import of 12 knee radiographs then hits ENOSPC for real, and:
 * - the import fails with StorageFullError's clear message (not "could not be decoded" per file),
 *   and its imports row says failed with that reason;
 * - no partial file: no temp file is left, every stored file's bytes match its content address;
 * - no dangling row: no image row was inserted for the chunk that could not be stored;
 * - once space is back, the same import stores all 12, each row's three files present.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { seedDataset, seedUsers } from "@xray/core/queue.fixtures";
import { images, imports } from "@xray/db";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../db";

const root = path.resolve(import.meta.dirname, "../..");
const FILES = 12;

/** How to get a private mount namespace here, or null (then the test says why it cannot run). */
function unshareArgs(): string[] | null {
  for (const args of [["-m"], ["-r", "-m"]]) {
    const probe = spawnSync("unshare", [...args, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], {
      stdio: "ignore",
    });
    if (probe.status === 0) return args;
  }
  return null;
}

const unshare = unshareArgs();
if (!unshare)
  console.warn(
    "fault-disk-full: SKIPPED: cannot mount a tmpfs in a private mount namespace here (`unshare -m` / `unshare -rm` refused)",
  );

describe.skipIf(!unshare)("disk full during an import", () => {
  const work = mkdtempSync(path.join(os.tmpdir(), "xray-fault-disk-"));
  chmodSync(work, 0o755);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("fails with a clear error, leaves no partial file or row, and imports once space is back", {
    timeout: 120_000,
  }, async () => {
    const tdb = await useTestDatabase();
    const { db } = tdb;
    const datasetId = await seedDataset(db, { name: "disk-full" });
    const [admin] = await seedUsers(db, "admin", 1, "disk");
    if (!admin) throw new Error("no admin");

    // 12 real radiographs to import (~31 KiB each, stored as original + normalized + thumbnail).
    const folder = path.join(work, "in");
    mkdirSync(folder);
    const src = path.join(root, "demo/knee-oa-mini-224/images/0");
    for (const f of readdirSync(src)
      .filter((n) => n.endsWith(".png"))
      .slice(0, FILES))
      copyFileSync(path.join(src, f), path.join(folder, f));
    const mountPoint = path.join(work, "mnt");
    mkdirSync(mountPoint);

    const child = spawn(
      "unshare",
      [
        ...(unshare ?? []),
        "sh",
        "-c",
        'mount -t tmpfs -o size=4m tmpfs "$1" && exec "$2" "$3"',
        "sh",
        mountPoint,
        path.join(root, "node_modules/.bin/tsx"),
        path.join(import.meta.dirname, "fault-disk-full.child.ts"),
      ],
      {
        cwd: root,
        env: { ...process.env, DATABASE_URL: tdb.url, XRAY_FAULT_MOUNT: mountPoint },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const ask = async <T>(cmd: object): Promise<T> => {
      child.stdin?.write(`${JSON.stringify(cmd)}\n`);
      const next = await lines.next();
      if (next.done) throw new Error(`the child ended: ${stderr}`);
      const answer = JSON.parse(next.value) as T & { crashed?: string };
      if (answer.crashed) throw new Error(answer.crashed);
      return answer;
    };
    type Scan = { files: number; partial: string[]; missing: string[]; free: number };
    type ImportAnswer =
      | { ok: true; report: { importId: string; totals: { imported: number; refused: number } } }
      | { ok: false; name: string; message: string };

    try {
      const actor = { id: admin.id, role: "admin" as const };
      // 1. The disk fills up: ~160 KiB left, enough for a few images, not for twelve.
      const filled = await ask<{ free: number }>({ cmd: "fill", leaveBytes: 160 * 1024 });
      expect(filled.free).toBeLessThan(200 * 1024);
      const failed = await ask<ImportAnswer>({ cmd: "import", datasetId, actor, root: folder });
      expect(failed.ok, "the import on a full disk").toBe(false);
      if (failed.ok) throw new Error("unreachable");
      expect(failed.name).toBe("StorageFullError");
      expect(failed.message).toMatch(/storage is full \(no space left on device\)/);
      expect(failed.message).toMatch(/free space there/);

      // Its imports row: failed, with that reason.
      const [row] = await db.select().from(imports).where(eq(imports.datasetId, datasetId));
      expect(row?.status).toBe("failed");
      expect(row?.finishedAt).not.toBeNull();
      expect(row?.refusals.at(-1)).toEqual({ path: "(import)", reason: failed.message });
      // No file was blamed for the disk ("could not be decoded ... ENOSPC").
      expect(row?.refusals.filter((r) => /ENOSPC|no space/i.test(r.reason) && r.path !== "(import)")).toEqual(
        [],
      );

      // No dangling row, no partial file.
      expect(await db.select().from(images).where(eq(images.datasetId, datasetId))).toEqual([]);
      const afterFail = await ask<Scan>({ cmd: "scan", keys: [] });
      expect(afterFail.partial, "temp or truncated files in the store").toEqual([]);
      expect(afterFail.free, "the disk really was full").toBeLessThan(64 * 1024);

      // 2. Space is back: the same import goes through.
      await ask({ cmd: "free" });
      const ok = await ask<ImportAnswer>({ cmd: "import", datasetId, actor, root: folder });
      if (!ok.ok) throw new Error(`import after freeing space failed: ${ok.message}`);
      expect(ok.report.totals).toMatchObject({ imported: FILES, refused: 0 });
      const rows = await db.select().from(images).where(eq(images.datasetId, datasetId));
      expect(rows).toHaveLength(FILES);
      const keys = rows.flatMap((r) => [r.originalKey, r.normalizedKey, r.thumbnailKey]);
      const scan = await ask<Scan>({ cmd: "scan", keys });
      expect(scan.missing, "files of stored image rows").toEqual([]);
      expect(scan.partial).toEqual([]);
      const runs = await db.select().from(imports).where(eq(imports.datasetId, datasetId));
      expect(runs.map((r) => r.status).sort()).toEqual(["failed", "finished"]);
      console.log(
        `disk full: import failed with "${failed.message.slice(0, 60)}...", ${afterFail.files} whole files kept, ` +
          `${afterFail.free} bytes free; after freeing space ${ok.report.totals.imported} imported, ${scan.files} files`,
      );
      await ask({ cmd: "exit" });
    } finally {
      child.kill("SIGKILL");
    }
  });
});
