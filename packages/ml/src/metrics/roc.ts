/**
 * Ranking metrics for one binary head: AUROC (Mann-Whitney, ties count one half) with a DeLong or
 * seeded stratified-bootstrap confidence interval, ROC points, average precision (AUPRC).
 *
 * Edge cases: when only one class is present, AUROC, its CI and AP are NaN (AP is defined when
 * there is at least one positive) and the curves are empty arrays. Malformed input (length
 * mismatch, a label other than 0/1, a non-finite score) throws a RangeError.
 */
import { createRng } from "../augment/rng";
import { argsortAscending, checkBinary, midranks, normalQuantile } from "./common";

export interface RocPoint {
  fpr: number;
  tpr: number;
  /** Predict positive when score >= threshold. The first point (0, 0) has threshold +Infinity. */
  threshold: number;
}

export interface AurocInterval {
  auroc: number;
  lower: number;
  upper: number;
  /** Standard error (DeLong) or bootstrap standard deviation. */
  se: number;
  level: number;
  method: "delong" | "bootstrap";
  positives: number;
  negatives: number;
}

export interface AurocCiOptions {
  method?: "delong" | "bootstrap";
  /** Two-sided confidence level, default 0.95. */
  level?: number;
  /** Bootstrap replicates, default 1000. */
  replicates?: number;
  /** Bootstrap seed, default 0. */
  seed?: number;
}

/** AUROC = P(score of a random positive > score of a random negative) + 0.5 P(tie). */
export function auroc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const { labels: y, scores: s } = checkBinary(labels, scores, "auroc");
  const ranks = midranks(s);
  let n1 = 0;
  let rankSum = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === 1) {
      n1++;
      rankSum += ranks[i] as number;
    }
  }
  const n0 = y.length - n1;
  if (n1 === 0 || n0 === 0) return Number.NaN;
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n1 * n0);
}

/**
 * DeLong structural components (DeLong, DeLong & Clarke-Pearson 1988, computed with mid-ranks as in
 * Sun & Xu 2014): v10[i] = fraction of negatives ranked below positive i (ties 1/2), v01[j] =
 * fraction of positives ranked above negative j.
 */
export function delongComponents(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
): { auroc: number; v10: Float64Array; v01: Float64Array } {
  const { labels: y, scores: s } = checkBinary(labels, scores, "delongComponents");
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < y.length; i++) (y[i] === 1 ? pos : neg).push(s[i] as number);
  const n1 = pos.length;
  const n0 = neg.length;
  if (n1 === 0 || n0 === 0) return { auroc: Number.NaN, v10: new Float64Array(0), v01: new Float64Array(0) };
  const all = new Float64Array(n1 + n0);
  all.set(pos, 0);
  all.set(neg, n1);
  const z = midranks(all);
  const rx = midranks(pos);
  const ry = midranks(neg);
  const v10 = new Float64Array(n1);
  const v01 = new Float64Array(n0);
  let sum = 0;
  for (let i = 0; i < n1; i++) {
    v10[i] = ((z[i] as number) - (rx[i] as number)) / n0;
    sum += v10[i] as number;
  }
  for (let j = 0; j < n0; j++) v01[j] = 1 - ((z[n1 + j] as number) - (ry[j] as number)) / n1;
  return { auroc: sum / n1, v10, v01 };
}

function sampleVariance(v: Float64Array, mean: number): number {
  if (v.length < 2) return Number.NaN;
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += ((v[i] as number) - mean) ** 2;
  return ss / (v.length - 1);
}

/** DeLong variance of the AUROC estimate: S10/n1 + S01/n0 (NaN with fewer than 2 of a class). */
export function delongVariance(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const { auroc: a, v10, v01 } = delongComponents(labels, scores);
  if (Number.isNaN(a)) return Number.NaN;
  return sampleVariance(v10, a) / v10.length + sampleVariance(v01, a) / v01.length;
}

/**
 * AUROC with a confidence interval. DeLong: auroc +- z * se, clipped to [0, 1]. Bootstrap: the
 * percentile interval of AUROC over replicates that resample positives and negatives separately
 * (stratified, so every replicate has both classes), seeded and deterministic.
 */
export function aurocCI(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: AurocCiOptions = {},
): AurocInterval {
  const method = options.method ?? "delong";
  const level = options.level ?? 0.95;
  if (!(level > 0 && level < 1)) throw new RangeError(`aurocCI: level must be in (0, 1), got ${level}`);
  const { labels: y, scores: s } = checkBinary(labels, scores, "aurocCI");
  let n1 = 0;
  for (let i = 0; i < y.length; i++) n1 += y[i] as number;
  const n0 = y.length - n1;
  const nan = Number.NaN;
  if (n1 === 0 || n0 === 0)
    return { auroc: nan, lower: nan, upper: nan, se: nan, level, method, positives: n1, negatives: n0 };
  if (method === "delong") {
    const { auroc: a, v10, v01 } = delongComponents(y, s);
    const se = Math.sqrt(sampleVariance(v10, a) / n1 + sampleVariance(v01, a) / n0);
    const z = normalQuantile(1 - (1 - level) / 2);
    return {
      auroc: a,
      lower: Math.max(0, a - z * se),
      upper: Math.min(1, a + z * se),
      se,
      level,
      method,
      positives: n1,
      negatives: n0,
    };
  }
  const replicates = options.replicates ?? 1000;
  if (!Number.isInteger(replicates) || replicates < 2)
    throw new RangeError(`aurocCI: replicates must be an integer >= 2, got ${replicates}`);
  const boot = bootstrapAurocs(y, s, replicates, options.seed ?? 0);
  const sorted = Float64Array.from(boot).sort();
  let mean = 0;
  for (const v of boot) mean += v;
  mean /= boot.length;
  let ss = 0;
  for (const v of boot) ss += (v - mean) ** 2;
  return {
    auroc: auroc(y, s),
    lower: quantileSorted(sorted, (1 - level) / 2),
    upper: quantileSorted(sorted, 1 - (1 - level) / 2),
    se: Math.sqrt(ss / (boot.length - 1)),
    level,
    method,
    positives: n1,
    negatives: n0,
  };
}

/** Linear-interpolated quantile of an ascending array (the "type 7" definition of R and numpy). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return (sorted[lo] as number) + (h - lo) * ((sorted[hi] as number) - (sorted[lo] as number));
}

/**
 * Stratified bootstrap AUROCs. Scores are sorted once; each replicate draws multiplicities and
 * walks the sorted tie groups, so a replicate costs O(n) rather than a fresh sort.
 */
export function bootstrapAurocs(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  replicates: number,
  seed: number,
): Float64Array {
  const { labels: y, scores: s } = checkBinary(labels, scores, "bootstrapAurocs");
  const order = argsortAscending(s);
  const n = order.length;
  // Tie-group boundaries over the sorted order.
  const groupEnd: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = order[i + 1];
    if (next === undefined || (s[next] as number) !== (s[order[i] as number] as number)) groupEnd.push(i + 1);
  }
  const posIdx: number[] = [];
  const negIdx: number[] = [];
  for (let i = 0; i < n; i++) (y[i] === 1 ? posIdx : negIdx).push(i);
  const n1 = posIdx.length;
  const n0 = negIdx.length;
  const out = new Float64Array(replicates);
  if (n1 === 0 || n0 === 0) return out.fill(Number.NaN);
  const rng = createRng(seed);
  const counts = new Uint32Array(n);
  for (let r = 0; r < replicates; r++) {
    counts.fill(0);
    for (let k = 0; k < n1; k++) {
      const i = posIdx[Math.floor(rng.next() * n1)] as number;
      counts[i] = (counts[i] as number) + 1;
    }
    for (let k = 0; k < n0; k++) {
      const i = negIdx[Math.floor(rng.next() * n0)] as number;
      counts[i] = (counts[i] as number) + 1;
    }
    let negBelow = 0;
    let num = 0;
    let start = 0;
    for (const end of groupEnd) {
      let posW = 0;
      let negW = 0;
      for (let k = start; k < end; k++) {
        const i = order[k] as number;
        if (y[i] === 1) posW += counts[i] as number;
        else negW += counts[i] as number;
      }
      num += posW * (negBelow + 0.5 * negW);
      negBelow += negW;
      start = end;
    }
    out[r] = num / (n1 * n0);
  }
  return out;
}

interface ThresholdCounts {
  threshold: number;
  tp: number;
  fp: number;
}

/** Cumulative (tp, fp) after admitting each distinct score, from the highest score down. */
export function cumulativeCounts(y: Uint8Array, s: Float64Array): ThresholdCounts[] {
  const order = argsortAscending(s);
  const out: ThresholdCounts[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k] as number;
    if (y[i] === 1) tp++;
    else fp++;
    const prev = order[k - 1];
    if (prev === undefined || (s[prev] as number) !== (s[i] as number))
      out.push({ threshold: s[i] as number, tp, fp });
  }
  return out;
}

/** ROC points from (0, 0) to (1, 1), one per distinct score; empty if a class is absent. */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): RocPoint[] {
  const { labels: y, scores: s } = checkBinary(labels, scores, "rocCurve");
  let n1 = 0;
  for (let i = 0; i < y.length; i++) n1 += y[i] as number;
  const n0 = y.length - n1;
  if (n1 === 0 || n0 === 0) return [];
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Number.POSITIVE_INFINITY }];
  for (const c of cumulativeCounts(y, s))
    points.push({ fpr: c.fp / n0, tpr: c.tp / n1, threshold: c.threshold });
  return points;
}

export interface PrPoint {
  recall: number;
  precision: number;
  threshold: number;
}

/** Precision-recall points, one per distinct score from the highest down; empty with no positives. */
export function precisionRecallCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): PrPoint[] {
  const { labels: y, scores: s } = checkBinary(labels, scores, "precisionRecallCurve");
  let n1 = 0;
  for (let i = 0; i < y.length; i++) n1 += y[i] as number;
  if (n1 === 0) return [];
  return cumulativeCounts(y, s).map((c) => ({
    recall: c.tp / n1,
    precision: c.tp / (c.tp + c.fp),
    threshold: c.threshold,
  }));
}

/**
 * Average precision (AUPRC, step-wise, no interpolation): sum over distinct thresholds of
 * (R_k - R_{k-1}) * P_k, tied scores forming one threshold (the scikit-learn definition).
 * NaN when there are no positives. Its chance level is the prevalence.
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const pr = precisionRecallCurve(labels, scores);
  if (pr.length === 0) return Number.NaN;
  let ap = 0;
  let prevRecall = 0;
  for (const p of pr) {
    ap += (p.recall - prevRecall) * p.precision;
    prevRecall = p.recall;
  }
  return ap;
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

export interface AurocComparison {
  aurocA: number;
  aurocB: number;
  /** aurocA - aurocB */
  difference: number;
  se: number;
  z: number;
  /** Two-sided p-value of DeLong's test for correlated ROC curves; NaN when se is 0 or undefined. */
  pValue: number;
}

/**
 * DeLong's test comparing two models' AUROCs on the same labelled items (paired): the variance of
 * the difference uses the covariance of the two models' structural components.
 */
export function compareAurocs(
  labels: ArrayLike<number>,
  scoresA: ArrayLike<number>,
  scoresB: ArrayLike<number>,
): AurocComparison {
  const a = delongComponents(labels, scoresA);
  const b = delongComponents(labels, scoresB);
  const n1 = a.v10.length;
  const n0 = a.v01.length;
  const nan = Number.NaN;
  if (Number.isNaN(a.auroc) || Number.isNaN(b.auroc) || n1 < 2 || n0 < 2) {
    return { aurocA: a.auroc, aurocB: b.auroc, difference: a.auroc - b.auroc, se: nan, z: nan, pValue: nan };
  }
  // Sample variance of the per-item difference of components = Var_A + Var_B - 2 Cov_AB.
  const varDiff = (va: Float64Array, vb: Float64Array, mean: number): number => {
    let ss = 0;
    for (let i = 0; i < va.length; i++) ss += ((va[i] as number) - (vb[i] as number) - mean) ** 2;
    return ss / (va.length - 1);
  };
  const d = a.auroc - b.auroc;
  const se = Math.sqrt(varDiff(a.v10, b.v10, d) / n1 + varDiff(a.v01, b.v01, d) / n0);
  const z = se > 0 ? d / se : nan;
  return {
    aurocA: a.auroc,
    aurocB: b.auroc,
    difference: d,
    se,
    z,
    pValue: se > 0 ? 2 * (1 - normalCdf(Math.abs(z))) : nan,
  };
}
