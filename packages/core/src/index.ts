export * from "./actor";
export * from "./audit";
export * from "./errors";
export * from "./jobs";
export * from "./platform";
export * from "./round-config";
export * from "./rounds";
export * from "./users";
