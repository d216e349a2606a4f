export * from "./password";
