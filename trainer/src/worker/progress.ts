import { type Db, type RoundProgress, roundMetrics, trainingRounds } from "@xray/db";
import { and, eq, sql } from "drizzle-orm";

export class RoundCancelled extends Error {
  constructor() {
    super("round cancelled");
    this.name = "RoundCancelled";
  }
}

export class RoundLost extends Error {
  constructor() {
    super("another worker holds this round");
    this.name = "RoundLost";
  }
}

/**
 * Writes a running round's progress and heartbeat to the database every `intervalMs` (2 s), and
 * learns of cancellation on the same round trip. The heartbeat is the round's lease: a worker that
 * stops beating (killed) loses the round to the reaper, which queues it again for resume.
 */
export class RoundReporter {
  private last = 0;
  private pending: RoundProgress;
  private cancelled = false;
  private lost = false;
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout;
  private inflight: Promise<void> = Promise.resolve();
  private inflightCount = 0;
  /** The current run of failed writes (a database outage): logged once, and once when it ends. */
  private failing: { since: number; count: number } | null = null;

  constructor(
    private readonly db: Db,
    readonly roundId: string,
    private readonly workerId: string,
    initial: RoundProgress,
    private readonly intervalMs = 2_000,
  ) {
    this.pending = initial;
    // Beat even while no progress call comes (the training loop yields between steps, so this runs);
    // skipped when update() has just written.
    this.timer = setInterval(() => {
      if (Date.now() - this.last >= intervalMs / 2) void this.flush();
    }, intervalMs);
    this.timer.unref();
  }

  get elapsedSeconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  update(p: Partial<RoundProgress>): void {
    this.pending = { ...this.pending, ...p };
    if (Date.now() - this.last >= this.intervalMs) void this.flush();
  }

  /** True once a heartbeat learnt that the round was cancelled or taken over. */
  get stopRequested(): boolean {
    return this.cancelled || this.lost;
  }

  /**
   * The trainers' per-step stop check. A heartbeat is sent every 2 s, but between two training steps
   * the event loop only turns once, so its answer would otherwise be read several steps later; this
   * waits for a heartbeat in flight (a few ms, at most `maxWaitMs`) before reading the flag. With
   * no heartbeat in flight it costs nothing.
   */
  async shouldStop(maxWaitMs = 500): Promise<boolean> {
    if (!this.stopRequested && this.inflightCount > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.inflight,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, maxWaitMs);
        }),
      ]);
      clearTimeout(timer);
    }
    return this.stopRequested;
  }

  /** Throws when the round was cancelled or taken over; call between steps. */
  check(): void {
    if (this.lost) throw new RoundLost();
    if (this.cancelled) throw new RoundCancelled();
  }

  async metric(stage: string, epoch: number, values: Record<string, number>): Promise<void> {
    await this.db.insert(roundMetrics).values({ roundId: this.roundId, stage, epoch, values });
  }

  flush(): Promise<void> {
    this.last = Date.now();
    const progress = this.pending;
    this.inflightCount += 1;
    this.inflight = this.inflight.then(async () => {
      try {
        const rows = await this.db
          .update(trainingRounds)
          .set({ progress, heartbeatAt: sql`now()` })
          .where(and(eq(trainingRounds.id, this.roundId), eq(trainingRounds.workerId, this.workerId)))
          .returning({ status: trainingRounds.status });
        const row = rows[0];
        if (!row) this.lost = true;
        else if (row.status === "cancelling" || row.status === "cancelled") this.cancelled = true;
        if (this.failing) {
          const seconds = Math.round((Date.now() - this.failing.since) / 1000);
          console.log(
            `[worker] progress writes resumed for round ${this.roundId} (${this.failing.count} failed over ${seconds} s)`,
          );
          this.failing = null;
        }
      } catch (err) {
        // A database hiccup must not kill a long round; the next beat retries. One line per outage,
        // not one per beat.
        if (this.failing) this.failing.count += 1;
        else {
          this.failing = { since: Date.now(), count: 1 };
          console.warn(
            `[worker] progress write failed for round ${this.roundId}: ${err instanceof Error ? err.message : String(err)}; retrying every ${this.intervalMs / 1000} s, quiet until a write succeeds`,
          );
        }
      } finally {
        this.inflightCount -= 1;
      }
    });
    return this.inflight;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.inflight;
  }
}
