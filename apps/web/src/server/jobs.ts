import { type JobQueue, openJobQueue } from "@xray/core/jobs";
import { webEnv } from "./env";

// One queue per web process, opened on the first round started; kept on globalThis so that every
// route bundle shares it.
const KEY = Symbol.for("xray.web.jobs");

/** The trainer job queue (pg-boss on the platform database), opened lazily. */
export function webJobQueue(): Promise<JobQueue> {
  const existing: unknown = Reflect.get(globalThis, KEY);
  if (existing instanceof Promise) return existing;
  const opening = openJobQueue(webEnv().DATABASE_URL).catch((err: unknown) => {
    Reflect.deleteProperty(globalThis, KEY);
    throw err;
  });
  Reflect.set(globalThis, KEY, opening);
  return opening;
}
