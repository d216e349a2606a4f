/**
 * Errors services throw for the caller to map (tRPC codes, CLI exit messages). A row the actor may not
 * see is NOT_FOUND, never FORBIDDEN: scoping lives in the query, so existence does not leak.
 */
export type ServiceErrorCode = "BAD_REQUEST" | "NOT_FOUND" | "FORBIDDEN" | "CONFLICT" | "PRECONDITION_FAILED";

export class ServiceError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

export const notFound = (what: string) => new ServiceError("NOT_FOUND", `${what} not found`);
