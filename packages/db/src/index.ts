export * from "./client";
export * from "./embedded";
export * from "./env";
export * from "./migrate";
export * from "./schema/index";
