/**
 * Per-item uncertainty from predicted probabilities, each scaled to [0, 1] (1 = most uncertain) so
 * that scores from different heads can be combined.
 *
 * Binary heads give p = P(positive). Categorical heads give a probability row per item.
 * - entropy: H(p) / log(K)
 * - margin: 1 - (p_top1 - p_top2)
 * - least confidence: (1 - p_top1) * K / (K - 1)
 * - BALD (MC dropout): mutual information H(mean_t p_t) - mean_t H(p_t), in units of log(K).
 */

export type UncertaintyMeasure = "entropy" | "margin" | "least-confidence";

const EPS = 1e-12;

function binaryEntropy(p: number): number {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return -(q * Math.log(q) + (1 - q) * Math.log(1 - q)) / Math.LN2;
}

function checkP(p: number, where: string): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${where}: probability ${p} is not in [0, 1]`);
  return p;
}

/** Uncertainty of one binary probability. */
export function binaryUncertainty(p: number, measure: UncertaintyMeasure): number {
  checkP(p, "binaryUncertainty");
  switch (measure) {
    case "entropy":
      return binaryEntropy(p);
    case "margin":
      return 1 - Math.abs(2 * p - 1);
    case "least-confidence":
      return 2 * (1 - Math.max(p, 1 - p));
  }
}

/** Uncertainty of one categorical distribution (entries sum to 1). */
export function categoricalUncertainty(row: ArrayLike<number>, measure: UncertaintyMeasure): number {
  const k = row.length;
  if (k < 2) throw new RangeError(`categoricalUncertainty: need at least 2 classes, got ${k}`);
  let top1 = Number.NEGATIVE_INFINITY;
  let top2 = Number.NEGATIVE_INFINITY;
  let h = 0;
  for (let i = 0; i < k; i++) {
    const p = checkP(row[i] as number, "categoricalUncertainty");
    if (p > top1) {
      top2 = top1;
      top1 = p;
    } else if (p > top2) top2 = p;
    if (p > 0) h -= p * Math.log(p);
  }
  switch (measure) {
    case "entropy":
      return h / Math.log(k);
    case "margin":
      return 1 - (top1 - top2);
    case "least-confidence":
      return ((1 - top1) * k) / (k - 1);
  }
}

/** Per-item uncertainty of one binary head. */
export function headUncertainty(probs: ArrayLike<number>, measure: UncertaintyMeasure): Float64Array {
  const out = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) out[i] = binaryUncertainty(probs[i] as number, measure);
  return out;
}

/**
 * BALD for one binary head from T stochastic forward passes (MC dropout): samples[t][i] = P(positive)
 * for item i on pass t. Mutual information in bits, in [0, 1].
 */
export function baldBinary(samples: ReadonlyArray<ArrayLike<number>>): Float64Array {
  const t = samples.length;
  if (t < 2) throw new RangeError(`baldBinary: need at least 2 stochastic samples, got ${t}`);
  const n = (samples[0] as ArrayLike<number>).length;
  const mean = new Float64Array(n);
  const meanEntropy = new Float64Array(n);
  for (const s of samples) {
    if (s.length !== n)
      throw new RangeError(`baldBinary: samples have different lengths (${s.length} vs ${n})`);
    for (let i = 0; i < n; i++) {
      const p = checkP(s[i] as number, "baldBinary");
      mean[i] = (mean[i] as number) + p / t;
      meanEntropy[i] = (meanEntropy[i] as number) + binaryEntropy(p) / t;
    }
  }
  const out = new Float64Array(n);
  // Clamp tiny negative values from floating-point error: MI is non-negative by Jensen's inequality.
  for (let i = 0; i < n; i++)
    out[i] = Math.max(0, binaryEntropy(mean[i] as number) - (meanEntropy[i] as number));
  return out;
}

export type HeadCombine = "max" | "mean" | "gate-weighted";

/**
 * Combines per-head uncertainties into one score per item.
 * - max: the most uncertain head decides.
 * - mean: the average over heads.
 * - gate-weighted: findings matter only when the image is abnormal, so each finding head is weighted
 *   by the gate's P(abnormal): (u_gate + p_gate * mean_f u_f) / (1 + p_gate). Needs `gateIndex` and
 *   `gateProbs`.
 */
export function combineHeads(
  perHead: ReadonlyArray<Float64Array>,
  combine: HeadCombine,
  gate?: { gateIndex: number; gateProbs: ArrayLike<number> },
): Float64Array {
  if (perHead.length === 0) throw new RangeError("combineHeads: no heads");
  const n = (perHead[0] as Float64Array).length;
  for (const h of perHead)
    if (h.length !== n) throw new RangeError("combineHeads: heads have different lengths");
  const out = new Float64Array(n);
  if (combine === "gate-weighted") {
    if (!gate) throw new RangeError("combineHeads: gate-weighted needs gateIndex and gateProbs");
    const g = perHead[gate.gateIndex];
    if (!g) throw new RangeError(`combineHeads: gateIndex ${gate.gateIndex} is not a head`);
    if (gate.gateProbs.length !== n) throw new RangeError("combineHeads: gateProbs has the wrong length");
    const findings = perHead.filter((_, h) => h !== gate.gateIndex);
    for (let i = 0; i < n; i++) {
      const pg = checkP(gate.gateProbs[i] as number, "combineHeads");
      let f = 0;
      for (const h of findings) f += h[i] as number;
      f = findings.length > 0 ? f / findings.length : 0;
      out[i] = ((g[i] as number) + pg * f) / (1 + pg);
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    let acc = combine === "max" ? Number.NEGATIVE_INFINITY : 0;
    for (const h of perHead) acc = combine === "max" ? Math.max(acc, h[i] as number) : acc + (h[i] as number);
    out[i] = combine === "max" ? acc : acc / perHead.length;
  }
  return out;
}
