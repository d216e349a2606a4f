/** Shared input checks and small statistics helpers (plain TypeScript, browser-safe). */

/** Binary labels (0 = negative, 1 = positive) and scores for one head, validated. */
export function checkBinary(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  where: string,
): { labels: Uint8Array; scores: Float64Array } {
  if (labels.length !== scores.length) {
    throw new RangeError(
      `${where}: labels (${labels.length}) and scores (${scores.length}) differ in length`,
    );
  }
  const n = labels.length;
  const y = new Uint8Array(n);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const l = labels[i] as number;
    if (l !== 0 && l !== 1) throw new RangeError(`${where}: label at ${i} is ${l}; expected 0 or 1`);
    const v = scores[i] as number;
    if (!Number.isFinite(v))
      throw new RangeError(`${where}: score at ${i} is ${v}; expected a finite number`);
    y[i] = l;
    s[i] = v;
  }
  return { labels: y, scores: s };
}

export function checkProbabilities(probs: Float64Array, where: string): void {
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (p < 0 || p > 1) throw new RangeError(`${where}: probability at ${i} is ${p}; expected [0, 1]`);
  }
}

/** Indices that sort `scores` ascending (stable). */
export function argsortAscending(scores: ArrayLike<number>): Uint32Array {
  const idx = new Uint32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  idx.sort((a, b) => (scores[a] as number) - (scores[b] as number) || a - b);
  return idx;
}

/** 1-based mid-ranks (ties share the average of their ranks). */
export function midranks(values: ArrayLike<number>): Float64Array {
  const order = argsortAscending(values);
  const n = order.length;
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    const v = values[order[i] as number] as number;
    while (j + 1 < n && (values[order[j + 1] as number] as number) === v) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k] as number] = r;
    i = j + 1;
  }
  return ranks;
}

/**
 * Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9 after
 * one Newton step is not needed at CI precision).
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const plow = 0.02425;
  if (p < plow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  if (p > 1 - plow) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return (
      -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

/** a / b, or NaN when b is 0 (an undefined rate, e.g. PPV with no positive predictions). */
export function ratio(a: number, b: number): number {
  return b === 0 ? Number.NaN : a / b;
}
