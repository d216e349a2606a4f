import { imageSplit, USER_ROLES } from "@xray/db";
import { z } from "zod";

/** Shared input pieces, so every router validates ids and enums the same way. */
export const uuid = z.string().uuid();
export const role = z.enum(USER_ROLES);
export const split = z.enum(imageSplit.enumValues);
export const page = z.number().int().min(1).max(1_000_000).default(1);
