/** SQLSTATEs and socket errors that mean "the database went away", not a bug. */
const CONNECTION_CODES = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
]);

/** True when an error says the database connection was lost or refused (shutdown, restart, network). */
export function isConnectionError(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 4) return false;
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_CODES.has(code)) return true;
  if (
    /Connection terminated|terminating connection|the database system is (shutting down|starting up)/i.test(
      err.message,
    )
  )
    return true;
  // drizzle wraps the driver's error ("Failed query: ...") and keeps it as the cause.
  return isConnectionError(err.cause, depth + 1);
}

/** The driver's own error under drizzle's wrapper: "57P01 terminating connection ...". */
export function describeConnectionError(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  if (!(e instanceof Error)) return String(e);
  const code = (e as Error & { code?: unknown }).code;
  return typeof code === "string" ? `${code} ${e.message}` : e.message;
}
