export * from "./actor";
export * from "./audit";
export * from "./errors";
export * from "./platform";
export * from "./users";
