/**
 * k-center greedy (Sener & Savarese 2018, "core-set" selection) on embeddings: repeatedly pick the
 * candidate farthest from every centre chosen so far (already-labelled items count as centres).
 * Keeps one running min-distance per candidate and updates it against each new centre only, so the
 * cost is O(candidates * (centres + k) * dim) time and O(candidates) extra memory.
 */
import { createRng } from "../augment/rng";

/** Row-major n x dim embeddings. */
export interface Embeddings {
  data: Float32Array;
  n: number;
  dim: number;
}

export type EmbeddingMetric = "cosine" | "euclidean";

/** Accepts one Float32Array per row or an already flat matrix. */
export function toEmbeddings(rows: ReadonlyArray<Float32Array> | Embeddings): Embeddings {
  if (!Array.isArray(rows)) {
    const e = rows as Embeddings;
    if (e.data.length !== e.n * e.dim)
      throw new RangeError(`embeddings: data length ${e.data.length} != n * dim (${e.n} * ${e.dim})`);
    return e;
  }
  const list = rows as ReadonlyArray<Float32Array>;
  const n = list.length;
  const dim = n > 0 ? (list[0] as Float32Array).length : 0;
  const data = new Float32Array(n * dim);
  list.forEach((r, i) => {
    if (r.length !== dim)
      throw new RangeError(`embeddings: row ${i} has ${r.length} values, expected ${dim}`);
    data.set(r, i * dim);
  });
  return { data, n, dim };
}

/** Unit-length copy of the rows, so that squared euclidean distance = 2 * (1 - cosine similarity). */
export function l2Normalize(e: Embeddings): Embeddings {
  const out = new Float32Array(e.data.length);
  for (let i = 0; i < e.n; i++) {
    const o = i * e.dim;
    let s = 0;
    for (let d = 0; d < e.dim; d++) s += (e.data[o + d] as number) ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < e.dim; d++) out[o + d] = (e.data[o + d] as number) * inv;
  }
  return { data: out, n: e.n, dim: e.dim };
}

export interface KCenterOptions {
  k: number;
  /** Items that may be chosen; default all rows. */
  candidates?: ReadonlyArray<number>;
  /** Rows that are already centres (labelled images); never chosen. */
  centres?: ReadonlyArray<number>;
  metric?: EmbeddingMetric;
  /**
   * First centre when `centres` is empty: "medoid" = the candidate nearest the candidates' mean
   * (representative, deterministic), "random" = a seeded random candidate. Default "medoid".
   */
  firstCentre?: "medoid" | "random";
  seed?: number;
}

export interface KCenterResult {
  /** Chosen row indices, in the order picked. */
  selected: number[];
  /** Squared distance (cosine: 2 * (1 - cos)) from each candidate to its nearest centre after selection. */
  minDistance: Float64Array;
  /** Candidate row indices matching `minDistance`. */
  candidates: Uint32Array;
  /** The farthest-point distance at each pick (the covering radius, squared). */
  radii: number[];
}

function updateMin(
  data: Float32Array,
  dim: number,
  cand: Uint32Array,
  minD: Float64Array,
  centre: number,
): void {
  // Copy the centre once; four accumulators let V8 overlap the multiply-adds.
  const c = data.slice(centre * dim, centre * dim + dim);
  const d4 = dim - (dim % 4);
  for (let a = 0; a < cand.length; a++) {
    const o = (cand[a] as number) * dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let d = 0;
    for (; d < d4; d += 4) {
      const e0 = (data[o + d] as number) - (c[d] as number);
      const e1 = (data[o + d + 1] as number) - (c[d + 1] as number);
      const e2 = (data[o + d + 2] as number) - (c[d + 2] as number);
      const e3 = (data[o + d + 3] as number) - (c[d + 3] as number);
      s0 += e0 * e0;
      s1 += e1 * e1;
      s2 += e2 * e2;
      s3 += e3 * e3;
    }
    for (; d < dim; d++) {
      const e = (data[o + d] as number) - (c[d] as number);
      s0 += e * e;
    }
    const s = s0 + s1 + s2 + s3;
    if (s < (minD[a] as number)) minD[a] = s;
  }
}

export function kCenterGreedy(
  embeddings: ReadonlyArray<Float32Array> | Embeddings,
  options: KCenterOptions,
): KCenterResult {
  let e = toEmbeddings(embeddings);
  if ((options.metric ?? "cosine") === "cosine") e = l2Normalize(e);
  const { data, dim, n } = e;
  const centres = options.centres ?? [];
  const centreSet = new Set<number>();
  for (const c of centres) {
    if (!Number.isInteger(c) || c < 0 || c >= n)
      throw new RangeError(`kCenterGreedy: centre ${c} is not a row index`);
    centreSet.add(c);
  }
  const candList = (options.candidates ?? Array.from({ length: n }, (_, i) => i)).filter((i) => {
    if (!Number.isInteger(i) || i < 0 || i >= n)
      throw new RangeError(`kCenterGreedy: candidate ${i} is not a row index`);
    return !centreSet.has(i);
  });
  const cand = Uint32Array.from(new Set(candList));
  const k = Math.min(options.k, cand.length);
  const minD = new Float64Array(cand.length).fill(Number.POSITIVE_INFINITY);
  for (const c of centreSet) updateMin(data, dim, cand, minD, c);
  const selected: number[] = [];
  const radii: number[] = [];
  const taken = new Uint8Array(cand.length);
  if (k > 0 && centreSet.size === 0) {
    let first = 0;
    if ((options.firstCentre ?? "medoid") === "random")
      first = Math.floor(createRng(options.seed ?? 0).next() * cand.length);
    else {
      const mean = new Float64Array(dim);
      for (const i of cand)
        for (let d = 0; d < dim; d++)
          mean[d] = (mean[d] as number) + (data[i * dim + d] as number) / cand.length;
      let best = Number.POSITIVE_INFINITY;
      for (let a = 0; a < cand.length; a++) {
        const o = (cand[a] as number) * dim;
        let s = 0;
        for (let d = 0; d < dim; d++) s += ((data[o + d] as number) - (mean[d] as number)) ** 2;
        if (s < best) {
          best = s;
          first = a;
        }
      }
    }
    taken[first] = 1;
    selected.push(cand[first] as number);
    radii.push(Number.POSITIVE_INFINITY);
    updateMin(data, dim, cand, minD, cand[first] as number);
  }
  while (selected.length < k) {
    let best = -1;
    let bestD = Number.NEGATIVE_INFINITY;
    for (let a = 0; a < cand.length; a++) {
      if (taken[a] === 0 && (minD[a] as number) > bestD) {
        bestD = minD[a] as number;
        best = a;
      }
    }
    taken[best] = 1;
    selected.push(cand[best] as number);
    radii.push(bestD);
    updateMin(data, dim, cand, minD, cand[best] as number);
  }
  return { selected, minDistance: minD, candidates: cand, radii };
}
