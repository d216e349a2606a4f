// Database-only helpers; the next-auth configuration lives in "@xray/auth/config".
export * from "./credentials";
export * from "./env";
export * from "./password";
export * from "./permissions";
export * from "./rate-limit";
export * from "./session";
