import { TRPCError } from "@trpc/server";
import { type Context, createCaller } from "@xray/api";
import { forbidden, notFound, redirect } from "next/navigation";
import { apiContextFor } from "./api-context";
import { getSessionUser } from "./auth";

/** The context of a server component's calls (HTTP calls build theirs in ./api-context). */
export async function createTRPCContext(): Promise<Context> {
  return apiContextFor(await getSessionUser());
}

export type ServerApi = ReturnType<typeof createCaller>;

/**
 * Calls procedures from a server component through the same middleware as the HTTP API, turning
 * UNAUTHORIZED into the login page, FORBIDDEN into a 403 page and NOT_FOUND into a 404.
 */
export async function withApi<T>(fn: (api: ServerApi) => Promise<T>): Promise<T> {
  const api = createCaller(await createTRPCContext());
  try {
    return await fn(api);
  } catch (err) {
    if (err instanceof TRPCError) {
      if (err.code === "UNAUTHORIZED") redirect("/login");
      if (err.code === "FORBIDDEN") forbidden();
      if (err.code === "NOT_FOUND" || err.code === "BAD_REQUEST") notFound();
    }
    throw err;
  }
}
