/**
 * Confusion-matrix metrics for one binary head at a decision threshold (predict positive when
 * score >= threshold) and at the threshold that maximises Youden's J = sensitivity + specificity - 1.
 * A rate whose denominator is zero (e.g. PPV with no positive predictions) is NaN.
 */
import { checkBinary, ratio } from "./common";
import { cumulativeCounts } from "./roc";

export interface ConfusionMetrics {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  sensitivity: number;
  specificity: number;
  ppv: number;
  npv: number;
  f1: number;
  accuracy: number;
  /** Cohen's kappa between thresholded predictions and labels. */
  kappa: number;
}

export function metricsFromCounts(
  threshold: number,
  tp: number,
  fp: number,
  tn: number,
  fn: number,
): ConfusionMetrics {
  const n = tp + fp + tn + fn;
  const po = ratio(tp + tn, n);
  const pe = ratio((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp), n * n);
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    sensitivity: ratio(tp, tp + fn),
    specificity: ratio(tn, tn + fp),
    ppv: ratio(tp, tp + fp),
    npv: ratio(tn, tn + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    accuracy: po,
    kappa: pe === 1 ? Number.NaN : (po - pe) / (1 - pe),
  };
}

export function confusionAt(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold: number,
): ConfusionMetrics {
  if (Number.isNaN(threshold)) throw new RangeError("confusionAt: threshold is NaN");
  const { labels: y, scores: s } = checkBinary(labels, scores, "confusionAt");
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < y.length; i++) {
    const predicted = (s[i] as number) >= threshold;
    if (y[i] === 1) {
      if (predicted) tp++;
      else fn++;
    } else if (predicted) fp++;
    else tn++;
  }
  return metricsFromCounts(threshold, tp, fp, tn, fn);
}

/**
 * The threshold (one of the observed scores) with the largest Youden's J; ties go to the highest
 * threshold (the most specific operating point). Null when a class is absent (J is undefined).
 */
export function youdenThreshold(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
): (ConfusionMetrics & { youdenJ: number }) | null {
  const { labels: y, scores: s } = checkBinary(labels, scores, "youdenThreshold");
  let n1 = 0;
  for (let i = 0; i < y.length; i++) n1 += y[i] as number;
  const n0 = y.length - n1;
  if (n1 === 0 || n0 === 0) return null;
  let best = { j: Number.NEGATIVE_INFINITY, threshold: Number.NaN, tp: 0, fp: 0 };
  for (const c of cumulativeCounts(y, s)) {
    const j = c.tp / n1 - c.fp / n0;
    if (j > best.j + 1e-12) best = { j, threshold: c.threshold, tp: c.tp, fp: c.fp };
  }
  const m = metricsFromCounts(best.threshold, best.tp, best.fp, n0 - best.fp, n1 - best.tp);
  return { ...m, youdenJ: best.j };
}
