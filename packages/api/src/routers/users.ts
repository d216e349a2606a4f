import { TRPCError } from "@trpc/server";
import { createUser, listUsers, setUserDisabled, setUserRole } from "@xray/core/users";
import { z } from "zod";
import { role, uuid } from "../schemas";
import { authorizedProcedure, router } from "../trpc";

const admin = authorizedProcedure("users.manage");

export const usersRouter = router({
  list: admin.query(({ ctx }) => listUsers(ctx.db)),
  create: admin
    .input(
      z.object({
        email: z.string().trim().email().max(320),
        name: z.string().trim().max(200).default(""),
        role,
        password: z.string().min(1).max(256),
      }),
    )
    .mutation(({ ctx, input }) => createUser(ctx.db, { ...input, actor: ctx.actor })),
  setDisabled: admin
    .input(z.object({ userId: uuid, disabled: z.boolean() }))
    .mutation(async ({ ctx, input }) => {
      // An admin locking themselves out would leave the install without one.
      if (input.userId === ctx.user.id)
        throw new TRPCError({ code: "BAD_REQUEST", message: "you cannot disable your own account" });
      const user = await ctx.db.transaction((tx) => setUserDisabled(tx, { ...input, actor: ctx.actor }));
      ctx.sessions?.forget(user.id);
      return user;
    }),
  setRole: admin.input(z.object({ userId: uuid, role })).mutation(async ({ ctx, input }) => {
    if (input.userId === ctx.user.id)
      throw new TRPCError({ code: "BAD_REQUEST", message: "you cannot change your own role" });
    const user = await ctx.db.transaction((tx) => setUserRole(tx, { ...input, actor: ctx.actor }));
    ctx.sessions?.forget(user.id);
    return user;
  }),
});
