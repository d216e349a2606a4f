/**
 * A worker process that only helps one scoring run, slowly (8-image chunks, a pause after each), so
 * that a test can SIGKILL it in the middle of a shard. Env: DATABASE_URL, XRAY_DATA_DIR, RUN_ID.
 */
import { openJobQueue, openPlatform } from "@xray/core";
import { runScoreShardJob } from "@xray/trainer/worker/scoring";

const runId = process.env.RUN_ID;
if (!runId) throw new Error("RUN_ID is required");
const platform = await openPlatform({ log: () => {}, applicationName: "score-shard-child" });
const jobs = await openJobQueue(platform.databaseUrl);
await runScoreShardJob(
  {
    platform,
    jobs,
    workerId: "child",
    log: (l) => console.log(`[child] ${l}`),
    signal: new AbortController().signal,
    staleAfterMs: 3_000,
  },
  { runId },
  { chunkSize: 8, afterChunk: () => new Promise((r) => setTimeout(r, 300)) },
);
await jobs.stop();
await platform.close();
