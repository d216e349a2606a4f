import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { appRouter } from "@xray/api";
import { crossSiteRefusal } from "@xray/auth/csrf";
// Relative (not "@/"): tests/integration/trpc-direct.test.ts loads this route outside Next.
import { apiContextFromHeaders, logTrpcError, TRPC_ENDPOINT } from "../../../../server/api-context";

// Under `next dev` every API call comes here. The production web server answers /api/trpc/* itself
// (server-tasks/web-server.ts) with the same router, CSRF rule and context function.
const handler = async (req: Request) =>
  crossSiteRefusal(req) ??
  fetchRequestHandler({
    endpoint: TRPC_ENDPOINT,
    req,
    router: appRouter,
    createContext: () => apiContextFromHeaders((name) => req.headers.get(name)),
    onError: logTrpcError,
  });

export { handler as GET, handler as POST };
