/**
 * Queue latency benchmark at the service level: N images in a real PostgreSQL (the embedded one,
 * started in a temporary folder, or BENCH_DATABASE_URL), C concurrent annotators on C pool
 * connections, each looping nextImage -> submitRead for a fixed time. Prints p50 / p95 / p99 of
 * nextImage, submitRead and the pair, and the throughput.
 *
 *   pnpm --filter @xray/bench-queue bench --images 1000000 --annotators 50 --seconds 30
 *
 * HTTP mode (--http, or --url with DATABASE_URL): the same loop through the production server's
 * tRPC routes, each annotator signed in with its own session; see http.ts and README.md.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { Actor } from "@xray/core";
import { rankQueue } from "@xray/core/priorities";
import { nextImage } from "@xray/core/queue";
import { seedDataset, seedImages, seedUsers, seedVersion } from "@xray/core/queue.fixtures";
import { submitRead } from "@xray/core/reads";
import { applyMigrations, closeDb, createDb, startEmbeddedPostgres } from "@xray/db";
import { sql } from "drizzle-orm";

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    images: { type: "string", default: "100000" },
    annotators: { type: "string", default: "50" },
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    /**
     * Pause per annotator between images (a human reads for seconds; 0 = closed loop, the worst
     * case). A comma list runs one phase per value on the same pool.
     */
    "think-ms": { type: "string", default: "0" },
    /** Also time rankQueue over the whole pool (cold-start random, then entropy on seeded predictions). */
    rank: { type: "boolean", default: false },
    /** First, one annotator alone for this many seconds: the uncontended latency. */
    "solo-seconds": { type: "string", default: "0" },
    /** HTTP mode: start an embedded PostgreSQL and the production server, drive the tRPC routes. */
    http: { type: "boolean", default: false },
    /** HTTP mode against a running server (seeds into DATABASE_URL, the server's database). */
    url: { type: "string" },
    /** HTTP mode: port for the server it starts (default: a free one). */
    port: { type: "string" },
  },
});
if (args.http || args.url) {
  // HTTP mode: the same loop through the production server's tRPC routes (bench/queue/http.ts).
  const { runHttpBench } = await import("./http");
  const ok = await runHttpBench({
    images: Number(args.images),
    annotators: Number(args.annotators),
    seconds: Number(args.seconds),
    warmup: Number(args.warmup),
    thinkMs: Number(String(args["think-ms"]).split(",")[0]),
    ...(args.url ? { url: args.url } : {}),
    ...(args.port ? { port: Number(args.port) } : {}),
  });
  process.exit(ok ? 0 : 1);
}
const IMAGES = Number(args.images);
const ANNOTATORS = Number(args.annotators);
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
/** One measured phase per value, on the same seeded pool. */
const SOLO = Number(args["solo-seconds"]);
const THINK_MS = String(args["think-ms"]).split(",").map(Number);

function pct(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
const fmt = (v: number) => v.toFixed(1);
function summary(name: string, xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${name.padEnd(12)} n=${String(s.length).padStart(6)}  p50=${fmt(pct(s, 0.5))} ms  p95=${fmt(pct(s, 0.95))} ms  p99=${fmt(pct(s, 0.99))} ms  max=${fmt(s[s.length - 1] ?? Number.NaN)} ms`;
}

let dir: string | null = null;
let stopServer: (() => Promise<void>) | null = null;
let url = process.env.BENCH_DATABASE_URL;
if (!url) {
  dir = mkdtempSync(path.join(os.tmpdir(), "xray-bench-queue-"));
  // As root the server runs as a dedicated system user, which must be able to enter the folder.
  chmodSync(dir, 0o755);
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), database: "bench" });
  url = server.url;
  stopServer = () => server.stop();
}
const db = createDb({ url, max: ANNOTATORS + 2, applicationName: "bench-queue" });
try {
  await applyMigrations(db);
  const t0 = performance.now();
  const datasetId = await seedDataset(db, { name: `bench-${Date.now()}` });
  await seedImages(db, { datasetId, count: IMAGES, randomPriority: true });
  await db.execute(sql`vacuum analyze images`);
  const seedSeconds = (performance.now() - t0) / 1000;
  const annotators = await seedUsers(db, "annotator", ANNOTATORS, `bench${Date.now()}-`);
  console.log(
    `seeded ${IMAGES} images in ${seedSeconds.toFixed(1)} s; ${ANNOTATORS} annotators, ${SECONDS} s per phase, think ${THINK_MS.join(", ")} ms; load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")} on ${os.cpus().length} CPUs`,
  );

  const phases = [
    ...(SOLO > 0 ? [{ think: 0, seconds: SOLO, actors: annotators.slice(0, 1) }] : []),
    ...THINK_MS.map((think) => ({ think, seconds: SECONDS, actors: annotators })),
  ];
  for (const phase of phases) {
    const next: number[] = [];
    const submit: number[] = [];
    const pair: number[] = [];
    let errors = 0;
    const startAt = performance.now();
    const think = phase.think;
    const measureFrom = startAt + WARMUP * 1000;
    const endAt = measureFrom + phase.seconds * 1000;
    async function annotator(actor: Actor, i: number) {
      let n = 0;
      while (performance.now() < endAt) {
        const a = performance.now();
        const item = await nextImage(db, { actor, datasetId });
        const b = performance.now();
        if (!item) return;
        try {
          await submitRead(db, {
            actor,
            imageId: item.image.id,
            gate: (i + n) % 4 === 0 ? "abnormal" : "normal",
            findings: (i + n) % 4 === 0 ? { fracture: "positive" } : {},
            timeSpentMs: 1000,
          });
        } catch (err) {
          errors++;
          const cause = (err as { cause?: { code?: string; message?: string } }).cause;
          console.error(`submit failed: ${cause?.code ?? ""} ${cause?.message ?? (err as Error).message}`);
        }
        const c = performance.now();
        n++;
        if (think > 0) await new Promise((r) => setTimeout(r, think));
        if (a >= measureFrom) {
          next.push(b - a);
          submit.push(c - b);
          pair.push(c - a);
        }
      }
    }
    await Promise.all(phase.actors.map((actor, i) => annotator(actor, i)));
    const measured = (performance.now() - measureFrom) / 1000;
    console.log(
      `-- phase: ${phase.actors.length} annotator(s), think ${think} ms, load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`,
    );
    console.log(summary("nextImage", next));
    console.log(summary("submitRead", submit));
    console.log(summary("next+submit", pair));
    console.log(
      `throughput: ${(pair.length / measured).toFixed(0)} reads/s over ${measured.toFixed(1)} s; errors: ${errors}`,
    );
  }
  const plan = await db.execute<{ "QUERY PLAN": string }>(sql`
    explain (analyze, buffers) select i.id from images i
    where i.dataset_id = ${datasetId} and i.reads_needed > 0
      and not exists (select 1 from reads r where r.image_id = i.id and r.user_id = ${(annotators[0] as Actor).id})
      and not exists (select 1 from leases l where l.image_id = i.id and l.expires_at > now())
    order by i.priority desc nulls last, i.id limit 1 for update of i skip locked`);
  console.log("candidate query plan:");
  for (const r of plan.rows) console.log(`  ${r["QUERY PLAN"]}`);
  console.log(
    `load average after: ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
  if (args.rank) {
    const cold = await rankQueue(db, { datasetId, versionId: null, strategy: "random", seed: 1 });
    console.log(`rankQueue cold-start random: ${cold.ranked} images in ${(cold.ms / 1000).toFixed(1)} s`);
    const versionId = await seedVersion(db, { datasetId, number: 1 });
    const t1 = performance.now();
    await db.execute(sql`
      insert into predictions (version_id, image_id, probs, uncertainty)
      select ${versionId}, id, jsonb_build_object('abnormal', random(), 'fracture', random(), 'effusion', random(),
        'osteophytes', random()), 0
      from images where dataset_id = ${datasetId}`);
    console.log(`seeded predictions in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    const ent = await rankQueue(db, { datasetId, versionId, strategy: "entropy", seed: 1 });
    console.log(`rankQueue entropy: ${ent.ranked} images in ${(ent.ms / 1000).toFixed(1)} s`);
  }
} finally {
  await closeDb(db);
  if (stopServer) await stopServer();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
