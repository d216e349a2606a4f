/** Applies the checked-in migrations to DATABASE_URL (used by the PostgreSQL 15 check and by operators). */
import { applyMigrations, closeDb, createDb, dbEnv } from "@xray/db";
import { sql } from "drizzle-orm";

const url = dbEnv().DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is not set");
  process.exit(2);
}
const db = createDb({ url, max: 1, applicationName: "xray-migrate" });
try {
  await applyMigrations(db);
  const res = await db.execute<{ n: number }>(
    sql`select count(*)::int as n from information_schema.tables where table_schema = 'public'`,
  );
  const version = await db.execute<{ server_version: string }>(sql`show server_version`);
  console.log(
    `migrations applied: ${res.rows[0]?.n} tables on PostgreSQL ${version.rows[0]?.server_version}`,
  );
} finally {
  await closeDb(db);
}
