/**
 * The one place the tRPC instance is created. Exports only procedure builders:
 * - publicProcedure: anyone;
 * - protectedProcedure: a signed-in user (UNAUTHORIZED otherwise);
 * - authorizedProcedure(action): a signed-in user whose role may do `action` (FORBIDDEN otherwise).
 * Service errors (packages/core ServiceError) become the matching tRPC codes.
 */
import { initTRPC, TRPCError } from "@trpc/server";
import { type Action, can } from "@xray/auth/permissions";
import type { Actor } from "@xray/core/actor";
import { ServiceError } from "@xray/core/errors";
import superjson from "superjson";
import { ZodError } from "zod";
import type { Context } from "./context";

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    return {
      ...shape,
      data: {
        ...shape.data,
        zodError: error.cause instanceof ZodError ? error.cause.flatten() : null,
      },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

const serviceErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof ServiceError) {
    const cause = result.error.cause;
    throw new TRPCError({ code: cause.code, message: cause.message, cause });
  }
  return result;
});

/** True when a string anywhere in the value holds a NUL character (PostgreSQL text cannot store it). */
function hasNul(value: unknown, depth = 0): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (depth > 20 || typeof value !== "object" || value === null) return false;
  for (const [key, item] of Object.entries(value))
    if (key.includes("\u0000") || hasNul(item, depth + 1)) return true;
  return false;
}

// Refused here, once for every procedure, instead of failing in the database as a server error
// (found by tests/integration/fuzz.test.ts).
const noNulText = t.middleware(async ({ getRawInput, next }) => {
  if (hasNul(await getRawInput()))
    throw new TRPCError({ code: "BAD_REQUEST", message: "text must not contain NUL characters" });
  return next();
});

export const publicProcedure = t.procedure.use(serviceErrors).use(noNulText);

export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in first" });
  const actor: Actor = { id: ctx.user.id, role: ctx.user.role };
  return next({ ctx: { ...ctx, user: ctx.user, actor } });
});

export function authorizedProcedure(action: Action) {
  return protectedProcedure.use(({ ctx, next }) => {
    if (!can(ctx.user.role, action))
      throw new TRPCError({ code: "FORBIDDEN", message: `your role (${ctx.user.role}) may not ${action}` });
    return next();
  });
}
