/**
 * Query strategies for active learning behind one interface, in a name-keyed registry (the
 * MONAILabel strategy-registry pattern). Every strategy is defined by its priorities: `select`
 * returns the top `batchSize` items by priority, so the queue's ranking (higher = ask sooner) and
 * the chosen batch always agree.
 *
 * Indexing: every array in PoolScores is indexed by item over the whole dataset. Items listed in
 * `labelled` are never chosen (priority -1) and act as k-center centres; items in `exclude` (leased,
 * skipped) are never chosen either (priority -1) but are not centres. Every other priority is >= 0.
 */
import { createRng } from "../augment/rng";
import { type EmbeddingMetric, type Embeddings, kCenterGreedy, toEmbeddings } from "./kcenter";
import {
  baldBinary,
  combineHeads,
  type HeadCombine,
  headUncertainty,
  type UncertaintyMeasure,
} from "./uncertainty";

export interface PoolScores {
  /** probs[h][i] = P(positive) of binary head h (gate or finding) for item i. */
  probs?: ReadonlyArray<ArrayLike<number>>;
  /** mcProbs[h][t][i] = P(positive) of head h for item i on stochastic (MC dropout) pass t. */
  mcProbs?: ReadonlyArray<ReadonlyArray<ArrayLike<number>>>;
  /** Classifier-encoder embeddings (penultimate layer). */
  embeddings?: ReadonlyArray<Float32Array> | Embeddings;
  /** Self-supervised encoder embeddings, for the cold start (falls back to `embeddings`). */
  sslEmbeddings?: ReadonlyArray<Float32Array> | Embeddings;
  /** Which head of probs / mcProbs is the normal/abnormal gate (for combine "gate-weighted"). */
  gateHead?: number;
}

export interface SelectOptions {
  batchSize: number;
  seed: number;
  /** Item indices that already have labels. */
  labelled?: ReadonlyArray<number>;
  /** Item indices that must not be chosen now (e.g. leased to an annotator). */
  exclude?: ReadonlyArray<number>;
  /** How per-head uncertainties are combined, default "max". */
  combine?: HeadCombine;
  /** Embedding distance, default "cosine". */
  metric?: EmbeddingMetric;
  /** entropy+kcenter: the uncertain shortlist has candidateFactor * batchSize items (default 10). */
  candidateFactor?: number;
}

export type PoolInput = "probs" | "mcProbs" | "embeddings" | "sslEmbeddings";

export interface QueryStrategy {
  name: string;
  description: string;
  /** Inputs the strategy needs (cold-start takes sslEmbeddings or embeddings). */
  requires: ReadonlyArray<PoolInput>;
  /** One number per item; higher = ask sooner; -1 for labelled or excluded items. */
  priorities(input: PoolScores, options: SelectOptions): Float64Array;
  /** The next batch: item indices in priority order. */
  select(input: PoolScores, options: SelectOptions): number[];
}

function poolSize(input: PoolScores): number {
  const sizes: number[] = [];
  for (const p of input.probs ?? []) sizes.push(p.length);
  for (const h of input.mcProbs ?? []) for (const t of h) sizes.push(t.length);
  if (input.embeddings) sizes.push(toEmbeddings(input.embeddings).n);
  if (input.sslEmbeddings) sizes.push(toEmbeddings(input.sslEmbeddings).n);
  const n = sizes[0];
  if (n === undefined) throw new RangeError("query strategy: the pool has no probabilities or embeddings");
  if (sizes.some((s) => s !== n))
    throw new RangeError(
      `query strategy: pool arrays disagree on the number of items (${[...new Set(sizes)].join(", ")})`,
    );
  return n;
}

/** 0 = eligible, 1 = labelled, 2 = excluded. */
function eligibility(n: number, options: SelectOptions): Uint8Array {
  const state = new Uint8Array(n);
  const mark = (list: ReadonlyArray<number> | undefined, v: number, what: string) => {
    for (const i of list ?? []) {
      if (!Number.isInteger(i) || i < 0 || i >= n)
        throw new RangeError(`query strategy: ${what} index ${i} is outside the pool (size ${n})`);
      if (state[i] === 0) state[i] = v;
    }
  };
  mark(options.labelled, 1, "labelled");
  mark(options.exclude, 2, "excluded");
  return state;
}

function checkBatch(options: SelectOptions): void {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 0) {
    throw new RangeError(
      `query strategy: batchSize must be a non-negative integer, got ${options.batchSize}`,
    );
  }
}

/** Indices of the `k` largest priorities (ties: lower index first), skipping negative ones. */
export function topK(priorities: Float64Array, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < priorities.length; i++) if ((priorities[i] as number) >= 0) idx.push(i);
  idx.sort((a, b) => (priorities[b] as number) - (priorities[a] as number) || a - b);
  return idx.slice(0, k);
}

function requireInput<T>(value: T | undefined, strategy: string, what: string): T {
  if (value === undefined) throw new RangeError(`query strategy "${strategy}" needs ${what}`);
  return value;
}

function uncertaintyScores(
  name: string,
  input: PoolScores,
  options: SelectOptions,
  measure: UncertaintyMeasure | "bald",
): Float64Array {
  const combine = options.combine ?? "max";
  let perHead: Float64Array[];
  let gateProbs: ArrayLike<number> | undefined;
  if (measure === "bald") {
    const mc = requireInput(input.mcProbs, name, "mcProbs (T stochastic passes per head)");
    perHead = mc.map((samples) => baldBinary(samples));
    if (input.gateHead !== undefined) {
      const g = mc[input.gateHead];
      if (g) {
        const mean = new Float64Array((g[0] as ArrayLike<number>).length);
        for (const s of g)
          for (let i = 0; i < mean.length; i++) mean[i] = (mean[i] as number) + (s[i] as number) / g.length;
        gateProbs = mean;
      }
    }
  } else {
    const probs = requireInput(input.probs, name, "probs (per-head probabilities)");
    perHead = probs.map((p) => headUncertainty(p, measure));
    if (input.gateHead !== undefined) gateProbs = probs[input.gateHead];
  }
  if (combine === "gate-weighted") {
    const gateIndex = requireInput(input.gateHead, name, "gateHead for combine gate-weighted");
    return combineHeads(perHead, combine, {
      gateIndex,
      gateProbs: requireInput(gateProbs, name, "the gate head's probabilities"),
    });
  }
  return combineHeads(perHead, combine);
}

function withIneligible(scores: Float64Array, state: Uint8Array): Float64Array {
  for (let i = 0; i < scores.length; i++) if (state[i] !== 0) scores[i] = -1;
  return scores;
}

function makeStrategy(
  name: string,
  description: string,
  requires: ReadonlyArray<PoolInput>,
  priorities: (input: PoolScores, options: SelectOptions) => Float64Array,
): QueryStrategy {
  return {
    name,
    description,
    requires,
    priorities: (input, options) => {
      checkBatch(options);
      return priorities(input, options);
    },
    select: (input, options) => {
      checkBatch(options);
      return topK(priorities(input, options), options.batchSize);
    },
  };
}

function uncertaintyStrategy(
  name: string,
  description: string,
  measure: UncertaintyMeasure | "bald",
): QueryStrategy {
  return makeStrategy(name, description, [measure === "bald" ? "mcProbs" : "probs"], (input, options) => {
    const n = poolSize(input);
    return withIneligible(uncertaintyScores(name, input, options, measure), eligibility(n, options));
  });
}

/**
 * k-center priorities: chosen items get 1 + (B - rank) / B in pick order (all > 1); the rest get
 * their distance to the nearest centre divided by the largest such distance ([0, 1]), or `rest`.
 */
function kCenterPriorities(
  n: number,
  emb: ReadonlyArray<Float32Array> | Embeddings,
  state: Uint8Array,
  candidates: number[],
  options: SelectOptions,
  rest?: Float64Array,
): Float64Array {
  const labelled: number[] = [];
  for (let i = 0; i < n; i++) if (state[i] === 1) labelled.push(i);
  const r = kCenterGreedy(emb, {
    k: options.batchSize,
    candidates,
    centres: labelled,
    metric: options.metric ?? "cosine",
    seed: options.seed,
  });
  const out = new Float64Array(n).fill(-1);
  if (rest) for (const i of candidates) out[i] = rest[i] as number;
  else {
    let maxD = 0;
    for (const d of r.minDistance) if (Number.isFinite(d)) maxD = Math.max(maxD, d);
    r.candidates.forEach((i, a) => {
      const d = r.minDistance[a] as number;
      out[i] = maxD > 0 && Number.isFinite(d) ? d / maxD : 0;
    });
  }
  const b = Math.max(1, r.selected.length);
  r.selected.forEach((i, rank) => {
    out[i] = 1 + (b - rank) / b;
  });
  return out;
}

function eligibleList(state: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < state.length; i++) if (state[i] === 0) out.push(i);
  return out;
}

export const strategies: Record<string, QueryStrategy> = {};

function register(s: QueryStrategy): void {
  strategies[s.name] = s;
}

register(
  makeStrategy(
    "random",
    "Uniformly random, seeded (the baseline every other strategy must beat).",
    [],
    (input, options) => {
      const n = poolSize(input);
      const rng = createRng(options.seed);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = rng.next();
      return withIneligible(out, eligibility(n, options));
    },
  ),
);
register(uncertaintyStrategy("entropy", "Highest predictive entropy, combined over heads.", "entropy"));
register(uncertaintyStrategy("margin", "Smallest margin between the two most likely classes.", "margin"));
register(
  uncertaintyStrategy("least-confidence", "Lowest probability of the predicted class.", "least-confidence"),
);
register(
  uncertaintyStrategy("bald", "MC-dropout BALD: mutual information between prediction and weights.", "bald"),
);
register(
  makeStrategy(
    "kcenter",
    "k-center greedy on classifier embeddings (diversity / core-set).",
    ["embeddings"],
    (input, options) => {
      const n = poolSize(input);
      const state = eligibility(n, options);
      const emb = requireInput(input.embeddings, "kcenter", "embeddings");
      return kCenterPriorities(n, emb, state, eligibleList(state), options);
    },
  ),
);
register(
  makeStrategy(
    "entropy+kcenter",
    "Shortlist the candidateFactor * batchSize most uncertain items (entropy), then pick a diverse batch from them by k-center.",
    ["probs", "embeddings"],
    (input, options) => {
      const n = poolSize(input);
      const state = eligibility(n, options);
      const emb = requireInput(input.embeddings, "entropy+kcenter", "embeddings");
      const u = withIneligible(uncertaintyScores("entropy+kcenter", input, options, "entropy"), state);
      const factor = options.candidateFactor ?? 10;
      if (!(factor >= 1))
        throw new RangeError(`entropy+kcenter: candidateFactor must be >= 1, got ${factor}`);
      const shortlist = topK(u, Math.ceil(factor * options.batchSize));
      const out = kCenterPriorities(n, emb, state, shortlist, options, u);
      // Eligible items outside the shortlist keep their uncertainty (never above a shortlisted one).
      for (let i = 0; i < n; i++) if (state[i] === 0 && (out[i] as number) < 0) out[i] = u[i] as number;
      return out;
    },
  ),
);
register(
  makeStrategy(
    "cold-start",
    "No classifier yet: k-center greedy on self-supervised embeddings, starting from the most central image.",
    ["sslEmbeddings"],
    (input, options) => {
      const n = poolSize(input);
      const state = eligibility(n, options);
      const emb = requireInput(
        input.sslEmbeddings ?? input.embeddings,
        "cold-start",
        "sslEmbeddings (or embeddings)",
      );
      return kCenterPriorities(n, emb, state, eligibleList(state), options);
    },
  ),
);

export function getStrategy(name: string): QueryStrategy {
  const s = strategies[name];
  if (!s)
    throw new RangeError(`unknown query strategy "${name}" (known: ${Object.keys(strategies).join(", ")})`);
  return s;
}

/** Per-item priority for ranking a queue under the named strategy (higher = ask sooner). */
export function priorityScores(strategy: string, input: PoolScores, options: SelectOptions): Float64Array {
  return getStrategy(strategy).priorities(input, options);
}
