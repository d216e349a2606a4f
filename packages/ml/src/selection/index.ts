/**
 * Uncertainty and active-learning selection in plain TypeScript (no tfjs): uncertainty measures,
 * MC-dropout BALD, k-center greedy on embeddings and a name-keyed registry of query strategies.
 */

export {
  type EmbeddingMetric,
  type Embeddings,
  type KCenterOptions,
  type KCenterResult,
  kCenterGreedy,
  l2Normalize,
  toEmbeddings,
} from "./kcenter";
export {
  getStrategy,
  type PoolInput,
  type PoolScores,
  priorityScores,
  type QueryStrategy,
  type SelectOptions,
  strategies,
  topK,
} from "./strategies";
export {
  baldBinary,
  binaryUncertainty,
  categoricalUncertainty,
  combineHeads,
  type HeadCombine,
  headUncertainty,
  type UncertaintyMeasure,
} from "./uncertainty";
