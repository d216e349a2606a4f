export * from "./csv";
export * from "./import";
export * from "./mapping";
export { isInside, resolveInside } from "./paths";
export * from "./system-actor";
export * from "./uploads";
