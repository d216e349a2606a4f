import { createHash } from "node:crypto";

/**
 * The cold-start priority of an image: a seeded pseudo-random number in [0, 1) from md5(seed || id),
 * the same number rankQueue's "random" / "cold-start" strategies compute in SQL
 * ((('x' || substr(md5(seed || id), 1, 12))::bit(48)::bigint) / 2^48). Imports give new images this
 * priority, so that without a model version the queue is in a seeded random order from the start.
 */
export function seededPriority(seed: number, imageId: string): number {
  const hex = createHash("md5").update(`${seed}${imageId}`).digest("hex").slice(0, 12);
  return Number.parseInt(hex, 16) / 281474976710656;
}

/** rankQueue's default seed: new images get the order a cold-start ranking would give them. */
export const COLD_START_SEED = 0;
