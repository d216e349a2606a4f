import { pgEnum } from "drizzle-orm/pg-core";

export const userRole = pgEnum("user_role", ["annotator", "lead", "researcher", "admin"]);
export const readingMode = pgEnum("reading_mode", ["blind", "assisted"]);
export const imageSplit = pgEnum("image_split", ["train", "val", "test"]);
export const gateValue = pgEnum("gate_value", ["normal", "abnormal"]);
export const readKind = pgEnum("read_kind", ["read", "skip"]);
export const roundStatus = pgEnum("round_status", [
  "queued",
  "running",
  "cancelling",
  "cancelled",
  "succeeded",
  "failed",
]);
export const importStatus = pgEnum("import_status", ["running", "finished", "failed"]);

export const USER_ROLES = userRole.enumValues;
export type UserRole = (typeof USER_ROLES)[number];
export type GateValue = (typeof gateValue.enumValues)[number];
export type ImageSplit = (typeof imageSplit.enumValues)[number];
export type RoundStatus = (typeof roundStatus.enumValues)[number];
/** A finding's value in a read: uncertain reads never train. */
export type FindingValue = "positive" | "negative" | "uncertain";
