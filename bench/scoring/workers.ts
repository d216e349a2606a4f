/**
 * Pool scoring spread over K trainer worker processes: wall time of one version's sharded scoring
 * run, images/s, the shards each worker took, and a check that every pool image got exactly one
 * prediction row.
 *
 *   pnpm --filter @xray/bench-scoring workers --images 3000 --workers 1,2 --engine tfjs --shard-images 200
 *
 * Setup (not timed): an embedded PostgreSQL in a temp folder (or BENCH_DATABASE_URL), migrations, a
 * dataset of M pool images registered in the images table, each with its own stored file (hard links
 * to a few hundred real knee radiographs of knee-oa-128, so every image is decoded by the worker:
 * the worker's pixel cache is keyed by the file name), and the worker's default classifier
 * (round-config defaults: 64 px, ResNet width 16, blocks [1,1,1], gate + 4 heads; He-initialized
 * weights, throughput does not depend on their values) saved as a model version in storage.
 *
 * Per K (one phase each, on the same pool): predictions and the pixel cache are cleared, a fresh
 * version is saved, K real worker processes are started (`node --import tsx
 * trainer/src/worker/main.ts`, as `pnpm start` spawns them) with XRAY_TF_THREADS, XRAY_SCORE_ENGINE
 * and XRAY_SCORE_SHARD_IMAGES (or XRAY_SCORE_SHARDS); once all are ready, one "score" job is queued.
 * The worker that takes it plans the run (shards: disjoint image-id ranges) and queues helper jobs
 * that the others take. Timed: score_runs.created_at -> finished_at (database clock; the follow-up,
 * a cold-start ranking of the queue, included; the last shard's end is reported too).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { openJobQueue, parseRoundConfig } from "@xray/core";
import { seedDataset } from "@xray/core/queue.fixtures";
import {
  applyMigrations,
  closeDb,
  createDb,
  type Db,
  type LabelSchema,
  modelVersions,
  scoreRuns,
  startEmbeddedPostgres,
} from "@xray/db";
import { initBackend } from "@xray/ml/backend/index";
import { saveClassifier } from "@xray/ml/io/model-io";
import { buildClassifier } from "@xray/ml/models/resnet";
import { createLocalStorage, type Storage } from "@xray/storage";
import { eq, sql } from "drizzle-orm";

const repoRoot = path.resolve(import.meta.dirname, "../..");

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    /** Pool size M. */
    images: { type: "string", default: "3000" },
    /** Worker counts, one phase each, on the same pool. */
    workers: { type: "string", default: "1,2" },
    /** XRAY_SCORE_ENGINE of the workers: tfjs or onnx. */
    engine: { type: "string", default: "tfjs" },
    /** XRAY_TF_THREADS of each worker (wasm threads, onnxruntime intra-op threads). */
    threads: { type: "string", default: "1" },
    /** Images per shard (XRAY_SCORE_SHARD_IMAGES); --shards fixes the count instead. */
    "shard-images": { type: "string", default: "200" },
    shards: { type: "string" },
    /** Distinct real radiographs behind the pool (each stored file is a hard link to one). */
    sources: { type: "string", default: "400" },
    root: { type: "string", default: "/work/shared/data/knee-oa-128" },
    /** Give up on a phase after this many seconds. */
    "timeout-s": { type: "string", default: "900" },
    /**
     * Keep the workers' pixel cache between phases: the first phase decodes every image (cold),
     * later ones read the decoded pixels back (warm), as a second scoring of the same pool does.
     */
    "keep-cache": { type: "boolean", default: false },
    /** Echo the workers' log lines. */
    verbose: { type: "boolean", default: false },
  },
});

const M = Number(args.images);
const KS = String(args.workers).split(",").map(Number);
const ENGINE = String(args.engine);
const THREADS = String(args.threads);
const SOURCES = Number(args.sources);
const TIMEOUT_MS = Number(args["timeout-s"]) * 1000;
if (!Number.isInteger(M) || M < 1) throw new Error("--images must be a positive integer");
if (KS.some((k) => !Number.isInteger(k) || k < 1)) throw new Error("--workers: positive integers");
if (ENGINE !== "tfjs" && ENGINE !== "onnx") throw new Error("--engine must be tfjs or onnx");

/** The knee-oa-128 classes as gate + findings (as the demo dataset does). */
const SCHEMA: LabelSchema = {
  gate: { key: "abnormal", name: "Abnormal (KL >= 2)" },
  findings: [1, 2, 3, 4].map((g) => ({ key: `kl${g}`, name: `KL ${g}` })),
};

const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

/** CPU seconds (user + system) of a process, with its waited-for children when asked. */
function cpuSeconds(pid: number, withChildren = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // f[0] is field 3 (state): utime = field 14, stime 15, cutime 16, cstime 17.
    const at = (field: number) => Number(f[field - 3] ?? 0);
    const ticks = at(14) + at(15) + (withChildren ? at(16) + at(17) : 0);
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores; /proc/stat, idle and iowait excluded). */
function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (v[3] ?? 0) - (v[4] ?? 0)) / 100;
}

/** CPU seconds of a PostgreSQL server: the postmaster, its exited backends, its live ones. */
function postgresCpuSeconds(pgDataDir: string | null): number | null {
  if (!pgDataDir) return null;
  const pidFile = path.join(pgDataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const pm = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  let total = cpuSeconds(pm, true);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pm) total += cpuSeconds(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** Registers M pool images, each its own stored file (a hard link to one of the source radiographs). */
async function seedPool(db: Db, storage: Storage, datasetId: string): Promise<void> {
  const root = String(args.root);
  const csv = readFileSync(path.join(root, "labels.csv"), "utf8").trim().split("\n");
  const header = (csv[0] ?? "").split(",");
  const col = header.indexOf("path");
  if (col < 0) throw new Error(`${root}/labels.csv has no path column`);
  const sources = csv
    .slice(1)
    .map((l) => l.split(",")[col] ?? "")
    .filter(Boolean)
    .slice(0, SOURCES);
  if (sources.length === 0) throw new Error(`no images in ${root}/labels.csv`);
  const srcPaths = sources.map((p, i) => {
    const key = `bench/src/${i}.png`;
    const dest = storage.pathOf(key);
    mkdirSync(path.dirname(dest), { recursive: true });
    copyFileSync(path.join(root, p), dest);
    return dest;
  });
  for (let n = 1; n <= M; n++) {
    const dest = storage.pathOf(`bench/pool/${Math.floor(n / 1000)}/${n}.png`);
    if (n % 1000 === 0 || n === 1) mkdirSync(path.dirname(dest), { recursive: true });
    linkSync(srcPaths[(n - 1) % srcPaths.length] ?? "", dest);
  }
  await db.execute(sql`
    insert into images (dataset_id, sha256, original_key, normalized_key, thumbnail_key, original_filename,
      source_format, bit_depth, width, height, byte_size, provenance, priority, reads_needed)
    select ${datasetId}, md5(${datasetId}::text || n::text) || md5(n::text),
      'bench/pool/' || (n / 1000) || '/' || n || '.png', 'bench/pool/' || (n / 1000) || '/' || n || '.png',
      'bench/pool/' || (n / 1000) || '/' || n || '.png', 'knee' || n || '.png', 'png', 8, 128, 128, 5000,
      jsonb_build_object('sourcePath', 'knee' || n || '.png'), random(), 1
    from generate_series(1, ${M}::int) as n`);
  await db.execute(sql`vacuum analyze images`);
  console.log(`pool: ${M} images over ${Math.min(M, srcPaths.length)} distinct knee radiographs (${root})`);
}

/** The worker's default classifier saved as a new version of the dataset (model files in storage). */
async function saveVersion(db: Db, storage: Storage, datasetId: string, number: number, modelDir: string) {
  const versionId = crypto.randomUUID();
  const artifactKey = `models/${datasetId}/${versionId}`;
  for (const name of readdirSync(modelDir))
    await storage.putAt(`${artifactKey}/${name}`, readFileSync(path.join(modelDir, name)));
  await db.insert(modelVersions).values({
    id: versionId,
    datasetId,
    number,
    artifactKey,
    config: parseRoundConfig({}),
    labelSnapshot: { count: 0, hash: "bench" },
    metrics: {},
  });
  return versionId;
}

interface Worker {
  id: string;
  proc: ChildProcess;
  lines: string[];
  ready: Promise<void>;
  exited: Promise<void>;
}

function startWorkerProcess(id: string, env: NodeJS.ProcessEnv): Worker {
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", path.join(repoRoot, "trainer/src/worker/main.ts")],
    {
      cwd: repoRoot,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: string[] = [];
  let onReady: () => void = () => {};
  let onFail: (err: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  const take = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line) continue;
      lines.push(line);
      if (args.verbose) console.log(`  [${id}] ${line}`);
      if (/\] ready$/.test(line)) onReady();
    }
  };
  proc.stdout?.on("data", take);
  proc.stderr?.on("data", take);
  const exited = new Promise<void>((resolve) => {
    proc.once("exit", (code, signal) => {
      onFail(new Error(`worker ${id} exited (${code ?? signal}) before it was ready:\n${lines.join("\n")}`));
      resolve();
    });
  });
  return { id, proc, lines, ready, exited };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<boolean> {
  let dir: string | null = null;
  let stopServer: (() => Promise<void>) | null = null;
  let url = process.env.BENCH_DATABASE_URL;
  dir = mkdtempSync(path.join(os.tmpdir(), "xray-bench-workers-"));
  // As root the embedded server runs as a dedicated system user, which must be able to enter it.
  chmodSync(dir, 0o755);
  const pgDir = url ? null : path.join(dir, "pg");
  if (!url && pgDir) {
    const server = await startEmbeddedPostgres({ dataDir: pgDir, database: "bench" });
    url = server.url;
    stopServer = () => server.stop();
  }
  if (!url) throw new Error("no database");
  const dataDir = path.join(dir, "data");
  const storage = createLocalStorage(path.join(dataDir, "storage"));
  const cacheDir = path.join(dataDir, "cache"); // the worker's pixel cache (storage.root/../cache)
  const db = createDb({ url, max: 4, applicationName: "bench-scoring-workers" });
  const workers: Worker[] = [];
  let ok = true;
  try {
    await applyMigrations(db);
    const datasetId = await seedDataset(db, { name: `bench-workers-${Date.now()}`, schema: SCHEMA });
    await seedPool(db, storage, datasetId);

    // The classifier a round of the default config trains (train.ts), saved once.
    await initBackend({ log: () => {} });
    const config = parseRoundConfig({});
    const net = buildClassifier({
      encoder: {
        inputSize: config.inputSize,
        width: config.encoder.width,
        blocks: config.encoder.blocks,
      },
      schema: SCHEMA,
    });
    const modelDir = path.join(dir, "model");
    await saveClassifier(net, modelDir, { extra: { bench: "scoring-workers" } });
    net.full.dispose();

    const commit = (() => {
      try {
        return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot }).toString().trim();
      } catch {
        return "?";
      }
    })();
    console.log(
      `engine ${ENGINE}, XRAY_TF_THREADS=${THREADS} per worker, ${
        args.shards ? `${args.shards} shards` : `${args["shard-images"]} images per shard`
      }, ${os.cpus().length} CPUs, input ${config.inputSize} px, encoder width ${config.encoder.width} blocks [${config.encoder.blocks.join(",")}], HEAD ${commit}`,
    );
    const results: Record<string, unknown>[] = [];
    let number = 0;
    for (const K of KS) {
      // A clean start for each phase: no predictions, no decoded pixels (unless --keep-cache).
      await db.execute(sql`delete from predictions`);
      await db.execute(sql`vacuum analyze predictions`);
      const cache = number === 0 || !args["keep-cache"] ? "cold" : "warm";
      if (cache === "cold") rmSync(cacheDir, { recursive: true, force: true });
      const versionId = await saveVersion(db, storage, datasetId, ++number, modelDir);

      const env: NodeJS.ProcessEnv = {
        ...process.env,
        DATABASE_URL: url,
        XRAY_DATA_DIR: dataDir,
        XRAY_TF_THREADS: THREADS,
        XRAY_SCORE_ENGINE: ENGINE,
        XRAY_WORKER_POLL_MS: "200",
        XRAY_SCORE_SHARDS: args.shards ?? "",
        XRAY_SCORE_SHARD_IMAGES: args.shards ? "" : String(args["shard-images"]),
      };
      const phase: Worker[] = [];
      for (let i = 1; i <= K; i++)
        phase.push(startWorkerProcess(`bench-w${i}`, { ...env, XRAY_WORKER_ID: `bench-w${i}` }));
      workers.push(...phase);
      await Promise.all(phase.map((w) => w.ready));
      const load = loadavg();
      const pgCpu0 = postgresCpuSeconds(pgDir);
      const wCpu0 = phase.map((w) => cpuSeconds(w.proc.pid ?? 0));
      const busy0 = machineBusySeconds();
      const self0 = process.cpuUsage();

      const jobs = await openJobQueue(url);
      const t0 = performance.now();
      await jobs.enqueue({ type: "score", versionId });
      await jobs.stop();
      let run: typeof scoreRuns.$inferSelect | undefined;
      for (;;) {
        [run] = await db.select().from(scoreRuns).where(eq(scoreRuns.versionId, versionId));
        if (run?.finishedAt) break;
        if (performance.now() - t0 > TIMEOUT_MS) throw new Error(`K=${K}: the run did not finish in time`);
        if (phase.some((w) => w.proc.exitCode !== null))
          throw new Error(`K=${K}: a worker exited:\n${phase.flatMap((w) => w.lines.slice(-20)).join("\n")}`);
        await sleep(100);
      }
      const observedS = (performance.now() - t0) / 1000;
      const pgCpu = pgCpu0 === null ? null : (postgresCpuSeconds(pgDir) ?? 0) - pgCpu0;
      const wCpu = phase.map((w, i) => cpuSeconds(w.proc.pid ?? 0) - (wCpu0[i] ?? 0));
      const selfUse = process.cpuUsage(self0);
      const selfCpu = (selfUse.user + selfUse.system) / 1e6;
      // Whatever else kept the cores busy meanwhile (other users of the machine): should be ~0.
      const otherCpu =
        machineBusySeconds() - busy0 - wCpu.reduce((a, b) => a + b, 0) - (pgCpu ?? 0) - selfCpu;
      for (const w of phase) w.proc.kill("SIGTERM");
      await Promise.all(phase.map((w) => w.exited));
      if (run.error) throw new Error(`K=${K}: the run failed: ${run.error}`);

      const t = (
        await db.execute<{ run_s: number; shards_s: number }>(sql`
          select extract(epoch from r.finished_at - r.created_at)::float8 as run_s,
            extract(epoch from max(s.finished_at) - r.created_at)::float8 as shards_s
          from score_runs r join score_shards s on s.run_id = r.id where r.id = ${run.id}
          group by r.id`)
      ).rows[0];
      const perWorker = (
        await db.execute<{ worker_id: string; shards: number; scored: number }>(sql`
          select worker_id, count(*)::int as shards, sum(scored)::int as scored
          from score_shards where run_id = ${run.id} and status = 'done' group by worker_id order by worker_id`)
      ).rows;
      const check = (
        await db.execute<{
          rows: number;
          distinct_images: number;
          unscored: number;
          scored: number;
          not_done: number;
        }>(sql`
          select (select count(*)::int from predictions where version_id = ${versionId}) as rows,
            (select count(distinct image_id)::int from predictions where version_id = ${versionId}) as distinct_images,
            (select count(*)::int from images i where i.dataset_id = ${datasetId} and not exists
              (select 1 from predictions p where p.version_id = ${versionId} and p.image_id = i.id)) as unscored,
            (select coalesce(sum(scored), 0)::int from score_shards where run_id = ${run.id}) as scored,
            (select count(*)::int from score_shards where run_id = ${run.id} and status <> 'done') as not_done`)
      ).rows[0];
      const exact =
        check !== undefined &&
        check.rows === M &&
        check.distinct_images === M &&
        check.unscored === 0 &&
        check.scored === M &&
        check.not_done === 0;
      if (!exact) ok = false;
      const engines = phase.map((w) =>
        w.lines.some((l) => l.includes("onnxruntime-node on the version exported to ONNX")) ? "onnx" : "tfjs",
      );
      const runS = t?.run_s ?? Number.NaN;
      const row = {
        engine: ENGINE,
        workerEngines: engines,
        workers: K,
        pixelCache: cache,
        threadsPerWorker: Number(THREADS),
        images: M,
        shards: run.shards,
        runSeconds: Number(runS.toFixed(2)),
        lastShardSeconds: Number((t?.shards_s ?? Number.NaN).toFixed(2)),
        observedSeconds: Number(observedS.toFixed(2)),
        imagesPerSec: Number((M / runS).toFixed(1)),
        perWorker: perWorker.map((p) => ({ worker: p.worker_id, shards: p.shards, images: p.scored })),
        workerCpuSeconds: wCpu.map((c) => Number(c.toFixed(1))),
        postgresCpuSeconds: pgCpu === null ? null : Number(pgCpu.toFixed(1)),
        benchCpuSeconds: Number(selfCpu.toFixed(1)),
        otherCpuSeconds: Number(otherCpu.toFixed(1)),
        exactlyOnce: exact,
        check,
        loadAvgAtStart: load,
      };
      results.push(row);
      console.log(JSON.stringify(row));
      console.log(
        `K=${K} (${cache} pixel cache): ${M} images in ${runS.toFixed(1)} s (last shard at ${(t?.shards_s ?? Number.NaN).toFixed(1)} s) = ${(
          M / runS
        ).toFixed(1)} images/s; shards per worker ${perWorker
          .map((p) => `${p.worker_id}: ${p.shards} (${p.scored} images)`)
          .join(", ")}; worker CPU ${wCpu.map((c) => c.toFixed(0)).join(" + ")} s, postgres CPU ${
          pgCpu === null ? "?" : pgCpu.toFixed(0)
        } s, other processes ${otherCpu.toFixed(0)} s; exactly one row per image: ${exact ? "yes" : `NO ${JSON.stringify(check)}`}; engines ${engines.join(",")}; load at start ${load}`,
      );
    }
    // Speed-up of each phase over the K=1 phase with the same pixel cache state.
    for (const r of results) {
      const base = results.find((b) => b.workers === 1 && b.pixelCache === r.pixelCache);
      if (!base || base === r || r.workers === 1) continue;
      console.log(
        `speed-up K=${String(r.workers)} vs K=1 (${String(r.pixelCache)} pixel cache): ${(
          Number(r.imagesPerSec) / Number(base.imagesPerSec)
        ).toFixed(2)}x`,
      );
    }
  } finally {
    for (const w of workers)
      if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill("SIGKILL");
    await closeDb(db);
    if (stopServer) await stopServer();
    rmSync(dir, { recursive: true, force: true });
  }
  return ok;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
