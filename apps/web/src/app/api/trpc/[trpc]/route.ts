import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { appRouter } from "@xray/api";
import { crossSiteRefusal } from "@xray/auth/csrf";
import { createTRPCContext } from "@/server/trpc";

const handler = async (req: Request) =>
  crossSiteRefusal(req) ??
  fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: createTRPCContext,
    onError({ error, path }) {
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`[trpc] ${path ?? "?"}: ${error.message}`);
    },
  });

export { handler as GET, handler as POST };
