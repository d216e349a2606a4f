import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { auditRouter } from "./routers/audit";
import { datasetsRouter } from "./routers/datasets";
import { imagesRouter } from "./routers/images";
import { importsRouter } from "./routers/imports";
import { queueRouter } from "./routers/queue";
import { readsRouter } from "./routers/reads";
import { reviewRouter } from "./routers/review";
import { roundsRouter } from "./routers/rounds";
import { sessionRouter } from "./routers/session";
import { usersRouter } from "./routers/users";
import { versionsRouter } from "./routers/versions";
import { createCallerFactory, router } from "./trpc";

/** Every domain router. A new procedure needs a row in tests/integration/role-matrix.test.ts. */
export const appRouter = router({
  session: sessionRouter,
  datasets: datasetsRouter,
  images: imagesRouter,
  users: usersRouter,
  imports: importsRouter,
  queue: queueRouter,
  reads: readsRouter,
  review: reviewRouter,
  rounds: roundsRouter,
  versions: versionsRouter,
  audit: auditRouter,
});

export type AppRouter = typeof appRouter;
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

/** Server-side calls (server components, tests) through the same middleware as HTTP calls. */
export const createCaller = createCallerFactory(appRouter);
