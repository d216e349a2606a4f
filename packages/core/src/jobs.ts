import PgBoss from "pg-boss";

/**
 * The work queue: pg-boss on the platform's PostgreSQL. One queue holds every kind of trainer job so
 * that a worker runs exactly one job at a time, whatever its kind.
 */
export const JOB_QUEUE = "xray-jobs";

export type JobData =
  | { type: "round"; roundId: string }
  | { type: "score"; versionId: string; roundId?: string }
  /** Help score an open scoring run: claim its pending shards one by one, then try its follow-up. */
  | { type: "score-shard"; runId: string }
  | { type: "heatmaps"; versionId: string; imageIds: string[] };

export interface JobQueue {
  boss: PgBoss;
  enqueue(data: JobData, opts?: { priority?: number; singletonKey?: string }): Promise<string | null>;
  stop(): Promise<void>;
}

export async function openJobQueue(url: string, opts: { supervise?: boolean } = {}): Promise<JobQueue> {
  const boss = new PgBoss({
    connectionString: url,
    max: 3,
    application_name: "xray-jobs",
    supervise: opts.supervise ?? false,
    schedule: false,
  });
  boss.on("error", (err) => console.warn(`[jobs] ${err instanceof Error ? err.message : String(err)}`));
  await boss.start();
  if (!(await boss.getQueue(JOB_QUEUE))) {
    try {
      // Rounds can run for hours; a crashed worker's job is recovered through the round's heartbeat,
      // not through pg-boss expiry, so the expiry is long and there are no automatic retries.
      await boss.createQueue(JOB_QUEUE, { name: JOB_QUEUE, expireInHours: 23, retryLimit: 0 });
    } catch (err) {
      // Another process created it at the same moment.
      if (!(await boss.getQueue(JOB_QUEUE))) throw err;
    }
  }
  return {
    boss,
    enqueue: (data, o = {}) =>
      boss.send(JOB_QUEUE, data, {
        priority: o.priority ?? (data.type === "round" ? 0 : 1),
        ...(o.singletonKey ? { singletonKey: o.singletonKey } : {}),
        retryLimit: 0,
        expireInHours: 23,
      }),
    stop: () => boss.stop({ graceful: true, wait: true, timeout: 5_000 }),
  };
}
