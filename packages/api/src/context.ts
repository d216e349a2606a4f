import type { SessionUser, SessionValidator } from "@xray/auth/session";
import type { JobQueue } from "@xray/core/jobs";
import type { Db } from "@xray/db";
import type { Storage } from "@xray/storage";

/** What every procedure sees. The web server builds it per request; tests build it directly. */
export interface Context {
  /** The re-validated session user, or null when signed out. */
  user: SessionUser | null;
  db: Db;
  storage: Storage;
  /** The web server's session cache, told to forget users whose access changes. */
  sessions?: SessionValidator;
  /** The trainer job queue, opened on first use (rounds.start); absent where no queue is configured. */
  jobs?: () => Promise<Pick<JobQueue, "enqueue">>;
}
