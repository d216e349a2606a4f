import { actionsOf } from "@xray/auth/permissions";
import { protectedProcedure, publicProcedure, router } from "../trpc";

export const sessionRouter = router({
  /** The signed-in user and what they may do, or null: the only procedure open to anyone. */
  get: publicProcedure.query(({ ctx }) => {
    if (!ctx.user) return null;
    const { id, email, name, role } = ctx.user;
    return { user: { id, email, name, role }, actions: [...actionsOf(role)] };
  }),
  me: protectedProcedure.query(({ ctx }) => {
    const { id, email, name, role } = ctx.user;
    return { id, email, name, role, actions: [...actionsOf(role)] };
  }),
});
