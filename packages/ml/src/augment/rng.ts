/**
 * Seeded pseudo-random numbers (mulberry32). Plain TypeScript with no tfjs import, so metrics
 * (bootstrap) and selection (random strategy) can share it in the browser.
 *
 * The whole state is one uint32, so a run can checkpoint `getState()` and resume exactly.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Integer uniform in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number;
  /** True with probability p. */
  bool(p?: number): boolean;
  /** Standard normal (Box-Muller). */
  normal(): number;
  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: ReadonlyArray<T>): T;
  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T>(items: T[]): T[];
  /** A uint32 seed drawn from this stream, for seeding another generator or a tfjs random op. */
  seed(): number;
  /** An independent child generator (its seed is drawn from this stream). */
  fork(): Rng;
  getState(): number;
  setState(state: number): void;
}

function hashSeed(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`createRng: seed must be a finite number, got ${seed}`);
  // Mix integer and fractional parts so nearby float seeds still give different streams.
  let h = Math.trunc(seed) ^ 0x9e3779b9;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  const frac = Math.round((seed - Math.trunc(seed)) * 2 ** 31);
  h ^= frac;
  return (h ^ (h >>> 16)) >>> 0;
}

export function createRng(seed: number): Rng {
  let state = hashSeed(seed);
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng: Rng = {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => {
      if (hi < lo) throw new RangeError(`Rng.int: hi (${hi}) < lo (${lo})`);
      return lo + Math.floor(next() * (hi - lo + 1));
    },
    bool: (p = 0.5) => next() < p,
    normal: () => {
      const u = 1 - next(); // (0, 1]
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    pick: <T>(items: ReadonlyArray<T>): T => {
      if (items.length === 0) throw new RangeError("Rng.pick: empty array");
      return items[Math.floor(next() * items.length)] as T;
    },
    shuffle: <T>(items: T[]): T[] => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const tmp = items[i] as T;
        items[i] = items[j] as T;
        items[j] = tmp;
      }
      return items;
    },
    seed: () => Math.floor(next() * 4294967296) >>> 0,
    fork: () => createRng(Math.floor(next() * 4294967296)),
    getState: () => state,
    setState: (s: number) => {
      state = s >>> 0;
    },
  };
  return rng;
}
