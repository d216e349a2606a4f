import path from "node:path";
import { createSessionValidator, type SessionValidator } from "@xray/auth/session";
import { createDb, type Db } from "@xray/db/client";
import { createLocalStorage, type Storage } from "@xray/storage";
import { webEnv } from "./env";

export interface WebPlatform {
  db: Db;
  storage: Storage;
  /** Re-validates session claims against the database, with a short cache shared by all requests. */
  sessions: SessionValidator;
}

// Kept on globalThis so that every route bundle of this process shares one pool and one cache.
const KEY = Symbol.for("xray.web.platform");

function isWebPlatform(value: unknown): value is WebPlatform {
  return (
    typeof value === "object" && value !== null && "db" in value && "storage" in value && "sessions" in value
  );
}

/** The web server's database and file store, created lazily on the first request. */
export function getPlatform(): WebPlatform {
  const existing: unknown = Reflect.get(globalThis, KEY);
  if (isWebPlatform(existing)) return existing;
  const env = webEnv();
  const db = createDb({ url: env.DATABASE_URL, max: 10, applicationName: "xray-web" });
  const platform: WebPlatform = {
    db,
    storage: createLocalStorage(path.resolve(env.XRAY_DATA_DIR, "storage")),
    sessions: createSessionValidator(() => db, { ttlMs: 3000 }),
  };
  Reflect.set(globalThis, KEY, platform);
  return platform;
}
