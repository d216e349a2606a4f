/** Mixes integers into one 32-bit seed (per-epoch / per-step streams that survive a resume). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h ^= p >>> 0;
    h = Math.imul(h, 0x01000193) >>> 0;
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/**
 * A seed for tf.random* ops. TF.js treats a seed of 0 as "no seed" and draws from Math.random,
 * so 0 is mapped to 2^31 - 1 (every other value passes unchanged).
 */
export function tfjsSeed(seed: number): number {
  return seed === 0 ? 2147483647 : seed;
}
