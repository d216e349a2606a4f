/**
 * Inter-rater agreement: Cohen's kappa for two raters (unweighted, or linearly / quadratically
 * weighted for ordinal categories) and Fleiss' kappa for many raters.
 *
 * Kappa is undefined (NaN) when chance agreement is 1, e.g. both raters always give the same single
 * category. Malformed input throws a RangeError.
 */

export type KappaWeights = "none" | "linear" | "quadratic";

export interface CohensKappaOptions {
  weights?: KappaWeights;
  /**
   * The categories in order (the order matters for weighted kappa). Default: the distinct values
   * seen in either rater, sorted ascending.
   */
  categories?: ReadonlyArray<number>;
}

export interface CohensKappaResult {
  kappa: number;
  observedAgreement: number;
  expectedAgreement: number;
  categories: number[];
  /** matrix[i][j] = items rater A put in category i and rater B in category j. */
  matrix: number[][];
  n: number;
}

/** Cohen's kappa from two raters' category codes (numbers) for the same items. */
export function cohensKappa(
  raterA: ArrayLike<number>,
  raterB: ArrayLike<number>,
  options: CohensKappaOptions = {},
): CohensKappaResult {
  if (raterA.length !== raterB.length) {
    throw new RangeError(
      `cohensKappa: raters rated different numbers of items (${raterA.length} vs ${raterB.length})`,
    );
  }
  let categories: number[];
  if (options.categories) categories = [...options.categories];
  else {
    const seen = new Set<number>();
    for (let i = 0; i < raterA.length; i++) {
      seen.add(raterA[i] as number);
      seen.add(raterB[i] as number);
    }
    categories = [...seen].sort((a, b) => a - b);
  }
  const index = new Map<number, number>();
  categories.forEach((c, i) => {
    index.set(c, i);
  });
  const k = categories.length;
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < raterA.length; i++) {
    const a = index.get(raterA[i] as number);
    const b = index.get(raterB[i] as number);
    if (a === undefined || b === undefined) {
      throw new RangeError(
        `cohensKappa: item ${i} has a category (${raterA[i]}, ${raterB[i]}) not in [${categories.join(", ")}]`,
      );
    }
    (matrix[a] as number[])[b] = ((matrix[a] as number[])[b] as number) + 1;
  }
  return { ...cohensKappaFromMatrix(matrix, options.weights ?? "none"), categories };
}

/**
 * Cohen's kappa from a k x k contingency table. Weighted kappa uses disagreement weights
 * w_ij = |i - j| / (k - 1) (linear) or (|i - j| / (k - 1))^2 (quadratic):
 * kappa = 1 - sum(w * observed) / sum(w * expected). With weights "none" this equals the
 * classic (p_o - p_e) / (1 - p_e).
 */
export function cohensKappaFromMatrix(
  matrix: ReadonlyArray<ReadonlyArray<number>>,
  weights: KappaWeights = "none",
): Omit<CohensKappaResult, "categories"> {
  const k = matrix.length;
  for (const row of matrix) {
    if (row.length !== k) throw new RangeError(`cohensKappaFromMatrix: matrix must be square (${k} x ${k})`);
    for (const v of row)
      if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`cohensKappaFromMatrix: bad count ${v}`);
  }
  let n = 0;
  const rowSum = new Array<number>(k).fill(0);
  const colSum = new Array<number>(k).fill(0);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const v = (matrix[i] as ReadonlyArray<number>)[j] as number;
      n += v;
      rowSum[i] = (rowSum[i] as number) + v;
      colSum[j] = (colSum[j] as number) + v;
    }
  }
  const copy = matrix.map((r) => [...r]);
  if (n === 0)
    return {
      kappa: Number.NaN,
      observedAgreement: Number.NaN,
      expectedAgreement: Number.NaN,
      matrix: copy,
      n,
    };
  const w = (i: number, j: number): number => {
    if (weights === "none") return i === j ? 0 : 1;
    const d = k > 1 ? Math.abs(i - j) / (k - 1) : 0;
    return weights === "linear" ? d : d * d;
  };
  let observedDisagreement = 0;
  let expectedDisagreement = 0;
  let po = 0;
  let pe = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const o = ((matrix[i] as ReadonlyArray<number>)[j] as number) / n;
      const e = ((rowSum[i] as number) * (colSum[j] as number)) / (n * n);
      observedDisagreement += w(i, j) * o;
      expectedDisagreement += w(i, j) * e;
      if (i === j) {
        po += o;
        pe += e;
      }
    }
  }
  const kappa = expectedDisagreement === 0 ? Number.NaN : 1 - observedDisagreement / expectedDisagreement;
  return { kappa, observedAgreement: po, expectedAgreement: pe, matrix: copy, n };
}

export interface FleissKappaOptions {
  /**
   * Allow items rated by different numbers of raters. Each item's agreement then uses its own
   * n_i (P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1))), category proportions pool all ratings,
   * and items with fewer than 2 ratings are skipped. With a fixed n this is exactly Fleiss (1971).
   * Default false: differing row sums throw a RangeError.
   */
  allowVaryingRaters?: boolean;
}

export interface FleissKappaResult {
  kappa: number;
  /** Mean observed agreement over items (P-bar). */
  observedAgreement: number;
  /** Chance agreement sum_j p_j^2 (P-bar_e). */
  expectedAgreement: number;
  /** Proportion of all ratings in each category. */
  categoryProportions: number[];
  /** Per-category kappa_j = 1 - sum_i n_ij (n - n_ij) / (N n (n - 1) p_j q_j) (fixed n only). */
  categoryKappas: number[] | null;
  items: number;
  raters: number | null;
}

/**
 * Fleiss' kappa from an items x categories table of counts: counts[i][j] = number of raters who
 * put item i in category j (Fleiss 1971).
 */
export function fleissKappa(
  counts: ReadonlyArray<ReadonlyArray<number>>,
  options: FleissKappaOptions = {},
): FleissKappaResult {
  if (counts.length === 0) throw new RangeError("fleissKappa: no items");
  const k = (counts[0] as ReadonlyArray<number>).length;
  if (k < 1) throw new RangeError("fleissKappa: no categories");
  const perItem: number[] = [];
  for (const [i, row] of counts.entries()) {
    if (row.length !== k)
      throw new RangeError(`fleissKappa: item ${i} has ${row.length} categories, expected ${k}`);
    let s = 0;
    for (const v of row) {
      if (!Number.isInteger(v) || v < 0)
        throw new RangeError(`fleissKappa: item ${i} has count ${v}; counts must be integers >= 0`);
      s += v;
    }
    perItem.push(s);
  }
  const n0 = perItem[0] as number;
  const fixed = perItem.every((v) => v === n0);
  if (!fixed && !options.allowVaryingRaters) {
    throw new RangeError(
      `fleissKappa: items have different numbers of raters (${Math.min(...perItem)} to ${Math.max(...perItem)}); ` +
        "the standard Fleiss kappa needs the same number per item (pass allowVaryingRaters: true for the generalized form)",
    );
  }
  const colTotals = new Array<number>(k).fill(0);
  let totalRatings = 0;
  let pSum = 0;
  let used = 0;
  for (const [i, row] of counts.entries()) {
    const ni = perItem[i] as number;
    for (let j = 0; j < k; j++) colTotals[j] = (colTotals[j] as number) + (row[j] as number);
    totalRatings += ni;
    if (ni < 2) continue;
    let agree = 0;
    for (const v of row) agree += v * (v - 1);
    pSum += agree / (ni * (ni - 1));
    used++;
  }
  if (fixed && n0 < 2) throw new RangeError(`fleissKappa: need at least 2 raters per item, got ${n0}`);
  if (used === 0) throw new RangeError("fleissKappa: no item has at least 2 ratings");
  const p = colTotals.map((c) => c / totalRatings);
  const pBar = pSum / used;
  const pe = p.reduce((acc, v) => acc + v * v, 0);
  const kappa = pe === 1 ? Number.NaN : (pBar - pe) / (1 - pe);
  let categoryKappas: number[] | null = null;
  if (fixed) {
    const N = counts.length;
    categoryKappas = p.map((pj, j) => {
      const qj = 1 - pj;
      if (pj === 0 || qj === 0) return Number.NaN;
      let s = 0;
      for (const row of counts) s += (row[j] as number) * (n0 - (row[j] as number));
      return 1 - s / (N * n0 * (n0 - 1) * pj * qj);
    });
  }
  return {
    kappa,
    observedAgreement: pBar,
    expectedAgreement: pe,
    categoryProportions: p,
    categoryKappas,
    items: counts.length,
    raters: fixed ? n0 : null,
  };
}

/**
 * Builds the Fleiss count table from per-item lists of category codes (one entry per read; null
 * or undefined entries are missing reads and are skipped).
 */
export function fleissTable(
  ratings: ReadonlyArray<ReadonlyArray<number | null | undefined>>,
  categories: ReadonlyArray<number>,
): number[][] {
  const index = new Map<number, number>();
  categories.forEach((c, i) => {
    index.set(c, i);
  });
  return ratings.map((item, i) => {
    const row = new Array<number>(categories.length).fill(0);
    for (const r of item) {
      if (r === null || r === undefined) continue;
      const j = index.get(r);
      if (j === undefined)
        throw new RangeError(`fleissTable: item ${i} has category ${r} not in [${categories.join(", ")}]`);
      row[j] = (row[j] as number) + 1;
    }
    return row;
  });
}
