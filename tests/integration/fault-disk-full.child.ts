/**
 * The storage side of tests/integration/fault-disk-full.test.ts, run inside a private mount namespace
 * (`unshare`) where XRAY_FAULT_MOUNT is a small tmpfs: a real filesystem that really fills up, seen by
 * nobody else and gone when this process ends. Reads one JSON command per stdin line, answers one
 * JSON line on stdout: fill | free | import | scan | exit.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, rm, statfs, writeFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { importXrays } from "@xray/core/import/import";
import { closeDb, createDb } from "@xray/db";
import { createLocalStorage } from "@xray/storage";
import { z } from "zod";

const mount = z.string().min(1).parse(process.env.XRAY_FAULT_MOUNT);
const db = createDb({
  url: z.string().parse(process.env.DATABASE_URL),
  max: 4,
  applicationName: "fault-disk",
});
const storage = createLocalStorage(path.join(mount, "storage"));
const filler = path.join(mount, "filler");

const command = z.discriminatedUnion("cmd", [
  z.object({ cmd: z.literal("fill"), leaveBytes: z.number().int().min(0) }),
  z.object({ cmd: z.literal("free") }),
  z.object({
    cmd: z.literal("import"),
    datasetId: z.string(),
    actor: z.object({ id: z.string(), role: z.enum(["annotator", "lead", "researcher", "admin"]) }),
    root: z.string(),
  }),
  z.object({ cmd: z.literal("scan"), keys: z.array(z.string()) }),
  z.object({ cmd: z.literal("exit") }),
]);

async function freeBytes(): Promise<number> {
  const s = await statfs(mount);
  return s.bavail * s.bsize;
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full)));
    else out.push(full);
  }
  return out;
}

async function run(line: string): Promise<unknown> {
  const c = command.parse(JSON.parse(line));
  switch (c.cmd) {
    case "fill": {
      // Something else on the disk takes all but leaveBytes.
      const target = (await freeBytes()) - c.leaveBytes;
      await writeFile(filler, Buffer.alloc(Math.max(0, target), 7));
      return { free: await freeBytes() };
    }
    case "free":
      await rm(filler, { force: true });
      return { free: await freeBytes() };
    case "import":
      try {
        const report = await importXrays({
          db,
          storage,
          datasetId: c.datasetId,
          root: c.root,
          actor: c.actor,
          source: "fault test",
        });
        return { ok: true, report };
      } catch (err) {
        return {
          ok: false,
          name: err instanceof Error ? err.name : typeof err,
          message: err instanceof Error ? err.message : String(err),
        };
      }
    case "scan": {
      // Every file in the store: temp leftovers, and blobs whose bytes do not match their name.
      const files = await walk(storage.root);
      const rel = files.map((f) => path.relative(storage.root, f));
      const partial: string[] = [];
      for (const f of rel) {
        const m = /^([0-9a-f]{2})\/([0-9a-f]{64})\.[a-z0-9]+$/.exec(f);
        if (!m) {
          partial.push(f);
          continue;
        }
        const sha = createHash("sha256")
          .update(await readFile(path.join(storage.root, f)))
          .digest("hex");
        if (sha !== m[2]) partial.push(f);
      }
      const missing: string[] = [];
      for (const k of c.keys) if (!(await storage.exists(k))) missing.push(k);
      return { files: rel.length, partial, missing, free: await freeBytes() };
    }
    case "exit":
      await closeDb(db);
      return { bye: true };
  }
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let answer: unknown;
  try {
    answer = await run(line);
  } catch (err) {
    answer = { crashed: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
  if (line.includes('"exit"')) break;
}
