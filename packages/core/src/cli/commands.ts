import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline/promises";
import { USER_ROLES, type UserRole } from "@xray/db";
import {
  createDataset,
  DEFAULT_CANINE_MSK_SCHEMA,
  findDatasetByName,
  KNEE_KL_SCHEMA,
  listDatasets,
} from "../datasets";
import { ServiceError } from "../errors";
import { type ImportProgress, importXrays } from "../import/import";
import { MAPPING_PRESETS } from "../import/mapping";
import { ensureSystemActor } from "../import/system-actor";
import type { Platform } from "../platform";
import { createUser, listUsers } from "../users";
import { type OptionSpec, parse, positiveInt, required, str, UsageError } from "./args";

export interface CommandContext {
  /** Opened lazily: usage errors and --help never start a database. */
  platform(): Promise<Platform>;
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface Command {
  /** Words that select it, e.g. ["user", "add"]. */
  path: string[];
  summary: string;
  help: string;
  options: OptionSpec;
  positionals: boolean;
  run(values: Record<string, unknown>, positionals: string[], ctx: CommandContext): Promise<number>;
}

const SCHEMAS = { "canine-msk": DEFAULT_CANINE_MSK_SCHEMA, "knee-kl": KNEE_KL_SCHEMA } as const;

async function schemaFrom(name: string | undefined, mapping: string | undefined) {
  const key = name ?? (mapping === "knee-kl" ? "knee-kl" : "canine-msk");
  if (key in SCHEMAS) return SCHEMAS[key as keyof typeof SCHEMAS];
  try {
    return JSON.parse(await readFile(key, "utf8"));
  } catch {
    throw new UsageError(`--schema must be canine-msk, knee-kl or a readable JSON file (got "${key}")`);
  }
}

function commonFolder(files: string[]): string {
  const dirs = files.map((f) => path.dirname(path.resolve(f)).split(path.sep));
  const first = dirs[0] ?? [];
  let n = first.length;
  for (const d of dirs) {
    let k = 0;
    while (k < n && d[k] === first[k]) k++;
    n = k;
  }
  return first.slice(0, n).join(path.sep) || path.sep;
}

const importCommand: Command = {
  path: ["import"],
  summary: "import X-rays (PNG, JPEG, 16-bit PNG, DICOM) from a folder or files into a dataset",
  help: `Usage: pnpm xray import <folder | files...> --dataset NAME [options]

Imports every PNG, JPEG and DICOM file (by content, not by name) under the folder, or the files given.
Each file is stored (original, normalized 8-bit PNG, thumbnail), refused with a reason, or reported as a
duplicate when the same bytes are already in the dataset. A bad file never stops the rest. With --labels,
rows with a blank label cell, and files that have no row, arrive unlabelled (they join the annotators'
queue); labelled images get a gold label and need no reads.

Options:
  --dataset NAME        dataset to import into (required)
  --create              create the dataset when it does not exist
  --schema S            schema for --create: canine-msk (default), knee-kl, or a JSON file
  --labels FILE.csv     labels CSV; its paths are relative to the folder and may not leave it
  --mapping M           how CSV columns map onto the schema: ${Object.keys(MAPPING_PRESETS).join(", ")} or a JSON file
                        (default: columns named like the schema's keys, with 1/0)
  --species S           species for images that do not say (e.g. dog)
  --body-part P         body part for images that do not say (e.g. stifle)
  --view V              view for images that do not say (e.g. lateral)
  --split S             split for images without one in the CSV: train (default), val or test
  --concurrency N       files decoded at once (default 3)
  --max-mb N            largest file accepted in MiB (default 512)

Exit code 0 when the run completed (even with refusals), 1 on an error, 2 on bad usage.`,
  options: {
    dataset: { type: "string" },
    create: { type: "boolean" },
    schema: { type: "string" },
    labels: { type: "string" },
    mapping: { type: "string" },
    species: { type: "string" },
    "body-part": { type: "string" },
    view: { type: "string" },
    split: { type: "string" },
    concurrency: { type: "string" },
    "max-mb": { type: "string" },
  },
  positionals: true,
  async run(values, positionals, ctx) {
    const datasetName = required(values, "dataset");
    if (positionals.length === 0) throw new UsageError("give a folder or files to import");
    const split = str(values, "split");
    if (split !== undefined && split !== "train" && split !== "val" && split !== "test")
      throw new UsageError("--split must be train, val or test");
    const concurrency = positiveInt(values, "concurrency");
    const maxMb = positiveInt(values, "max-mb");
    const kinds = await Promise.all(positionals.map((p) => stat(p).catch(() => null)));
    kinds.forEach((k, i) => {
      if (!k) throw new UsageError(`not found: ${positionals[i]}`);
    });
    let root: string;
    let files: string[] | undefined;
    if (positionals.length === 1 && kinds[0]?.isDirectory()) root = positionals[0]!;
    else {
      if (kinds.some((k) => k?.isDirectory()))
        throw new UsageError("give either one folder or a list of files");
      files = positionals.map((p) => path.resolve(p));
      root = commonFolder(files);
    }
    const labels = str(values, "labels");
    if (labels && !(await stat(labels).catch(() => null)))
      throw new UsageError(`labels CSV not found: ${labels}`);
    const mapping = str(values, "mapping");

    const platform = await ctx.platform();
    const { db, storage } = platform;
    const actor = await ensureSystemActor(db);
    let dataset = await findDatasetByName(db, datasetName);
    if (!dataset) {
      if (!values.create)
        throw new UsageError(`no dataset named "${datasetName}" (add --create to create it)`);
      dataset = await createDataset(db, {
        name: datasetName,
        labelSchema: await schemaFrom(str(values, "schema"), mapping),
        actor,
      });
      ctx.out(`created dataset "${dataset.name}" (${dataset.labelSchema.findings.length} findings)`);
    }
    ctx.out(`importing into "${dataset.name}" from ${root}${files ? ` (${files.length} files)` : ""}`);
    let lastTenth = -1;
    let lastAt = 0;
    const onProgress = (p: ImportProgress) => {
      const tenth = p.total === 0 ? 10 : Math.floor((10 * p.done) / p.total);
      const now = Date.now();
      if (tenth !== lastTenth || now - lastAt > 5000) {
        lastTenth = tenth;
        lastAt = now;
        ctx.err(
          `  ${p.done}/${p.total} files: ${p.imported} imported, ${p.duplicates} duplicates, ${p.refused} refused`,
        );
      }
    };
    const report = await importXrays({
      db,
      storage,
      datasetId: dataset.id,
      root,
      ...(files ? { files } : {}),
      ...(labels ? { labelsCsv: labels } : {}),
      ...(mapping ? { mapping } : {}),
      defaults: {
        ...(str(values, "species") ? { species: str(values, "species")!.toLowerCase() } : {}),
        ...(str(values, "body-part") ? { bodyPart: str(values, "body-part")!.toLowerCase() } : {}),
        ...(str(values, "view") ? { view: str(values, "view")!.toLowerCase() } : {}),
        ...(split ? { split: split as "train" | "val" | "test" } : {}),
      },
      actor,
      onProgress,
      ...(concurrency ? { concurrency } : {}),
      ...(maxMb ? { limits: { maxBytes: maxMb * 1024 * 1024 } } : {}),
    });
    const t = report.totals;
    const rate = report.seconds > 0 ? (t.files / report.seconds).toFixed(1) : "-";
    ctx.out("");
    ctx.out(`Import ${report.importId} finished in ${report.seconds.toFixed(1)} s (${rate} files/s)`);
    ctx.out(`  files:      ${t.files}`);
    ctx.out(`  imported:   ${t.imported}${report.labelled ? ` (${report.labelled} with gold labels)` : ""}`);
    ctx.out(
      `  duplicates: ${t.duplicates}${t.duplicates ? " (already in the dataset; not imported again)" : ""}`,
    );
    for (const d of report.duplicates.slice(0, 10)) ctx.out(`    ${d}`);
    if (report.duplicates.length > 10) ctx.out(`    ... and ${report.duplicates.length - 10} more`);
    ctx.out(`  refused:    ${t.refused}`);
    for (const r of report.refused) ctx.out(`    ${r.path}: ${r.reason}`);
    if (report.skipped.length > 0)
      ctx.out(
        `  not tried (not image files by name): ${report.skipped.slice(0, 5).join(", ")}${report.skipped.length > 5 ? ", ..." : ""}`,
      );
    return 0;
  },
};

async function askPassword(): Promise<string | null> {
  if (!process.stdin.isTTY) return null;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question("Password (leave empty to generate one): ");
    return answer.trim() === "" ? null : answer;
  } finally {
    rl.close();
  }
}

const userAdd: Command = {
  path: ["user", "add"],
  summary: "create a user",
  help: `Usage: pnpm xray user add --email E --role R [--name N] [--password P]

Roles: ${USER_ROLES.join(", ")}. Without --password you are asked for one on a terminal; an empty answer
(or no terminal) generates one, printed once.`,
  options: {
    email: { type: "string" },
    role: { type: "string" },
    name: { type: "string" },
    password: { type: "string" },
  },
  positionals: false,
  async run(values, _p, ctx) {
    const email = required(values, "email");
    const role = required(values, "role");
    if (!(USER_ROLES as readonly string[]).includes(role))
      throw new UsageError(`--role must be one of ${USER_ROLES.join(", ")}`);
    let password = str(values, "password") ?? (await askPassword());
    const generated = password === null;
    if (password === null) password = randomBytes(15).toString("base64url");
    const { db } = await ctx.platform();
    const actor = await ensureSystemActor(db);
    const user = await createUser(db, {
      email,
      role: role as UserRole,
      name: str(values, "name") ?? "",
      password,
      actor,
    });
    ctx.out(`created ${user.role} ${user.email} (${user.id})`);
    if (generated) ctx.out(`password (shown once): ${password}`);
    return 0;
  },
};

const userList: Command = {
  path: ["user", "list"],
  summary: "list users",
  help: "Usage: pnpm xray user list",
  options: {},
  positionals: false,
  async run(_v, _p, ctx) {
    const { db } = await ctx.platform();
    for (const u of await listUsers(db))
      ctx.out(`${u.email.padEnd(32)} ${u.role.padEnd(10)} ${u.disabled ? "disabled" : "active  "} ${u.name}`);
    return 0;
  },
};

const datasetCreate: Command = {
  path: ["dataset", "create"],
  summary: "create a dataset with a label schema",
  help: `Usage: pnpm xray dataset create --name NAME [--schema canine-msk|knee-kl|FILE.json] [--reads-per-image N] [--description D]

The default schema is canine musculoskeletal: gate abnormal; findings patellar luxation, hip dysplasia,
cranial cruciate ligament rupture, fracture, degenerative joint disease, Legg-Calve-Perthes disease,
intervertebral disc disease. knee-kl: KL grades 0-4 stand in for findings (the knee demo data).`,
  options: {
    name: { type: "string" },
    schema: { type: "string" },
    "reads-per-image": { type: "string" },
    description: { type: "string" },
  },
  positionals: false,
  async run(values, _p, ctx) {
    const name = required(values, "name");
    const labelSchema = await schemaFrom(str(values, "schema"), undefined);
    const readsPerImage = positiveInt(values, "reads-per-image");
    const { db } = await ctx.platform();
    const actor = await ensureSystemActor(db);
    const d = await createDataset(db, {
      name,
      labelSchema,
      actor,
      ...(readsPerImage ? { readsPerImage } : {}),
      ...(str(values, "description") ? { description: str(values, "description")! } : {}),
    });
    ctx.out(
      `created dataset "${d.name}" (${d.id}): gate ${d.labelSchema.gate.key}; findings ${d.labelSchema.findings.map((f) => f.key).join(", ")}`,
    );
    return 0;
  },
};

const datasetList: Command = {
  path: ["dataset", "list"],
  summary: "list datasets",
  help: "Usage: pnpm xray dataset list",
  options: {},
  positionals: false,
  async run(_v, _p, ctx) {
    const { db } = await ctx.platform();
    for (const d of await listDatasets(db))
      ctx.out(
        `${d.name.padEnd(48)} ${String(d.imageCount).padStart(8)} images  ${d.labelSchema.findings.length} findings  ${d.id}`,
      );
    return 0;
  },
};

export const COMMANDS: Command[] = [importCommand, userAdd, userList, datasetCreate, datasetList];

export { parse, ServiceError, UsageError };
