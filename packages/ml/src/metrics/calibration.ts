/**
 * Calibration of one binary head: expected calibration error with reliability bins, and the Brier
 * score.
 *
 * Two binnings: "top-label" (Guo et al. 2017: confidence = max(p, 1 - p), accuracy = fraction of
 * items whose predicted class, p >= 0.5, is right) and "positive" (the reliability diagram of the
 * positive-class probability: confidence = p, accuracy = observed fraction of positives).
 * Bins are equal-width over [0, 1]; bin b holds [b/B, (b+1)/B), the last bin includes 1.
 */
import { checkBinary, checkProbabilities } from "./common";

export type CalibrationMode = "top-label" | "positive";

export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  /** Mean confidence in the bin; NaN when empty. */
  meanConfidence: number;
  /** Accuracy (top-label) or observed positive rate (positive) in the bin; NaN when empty. */
  accuracy: number;
}

export interface CalibrationResult {
  ece: number;
  /** Maximum calibration error over non-empty bins. */
  mce: number;
  mode: CalibrationMode;
  bins: ReliabilityBin[];
}

export function reliability(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  options: { bins?: number; mode?: CalibrationMode } = {},
): CalibrationResult {
  const nb = options.bins ?? 10;
  const mode = options.mode ?? "top-label";
  if (!Number.isInteger(nb) || nb < 1)
    throw new RangeError(`reliability: bins must be a positive integer, got ${nb}`);
  const { labels: y, scores: p } = checkBinary(labels, probs, "reliability");
  checkProbabilities(p, "reliability");
  const count = new Array<number>(nb).fill(0);
  const confSum = new Array<number>(nb).fill(0);
  const hitSum = new Array<number>(nb).fill(0);
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] as number;
    const yi = y[i] as number;
    const conf = mode === "top-label" ? Math.max(pi, 1 - pi) : pi;
    const hit = mode === "top-label" ? Number((pi >= 0.5 ? 1 : 0) === yi) : yi;
    const b = Math.min(nb - 1, Math.floor(conf * nb));
    count[b] = (count[b] as number) + 1;
    confSum[b] = (confSum[b] as number) + conf;
    hitSum[b] = (hitSum[b] as number) + hit;
  }
  const n = p.length;
  let ece = n === 0 ? Number.NaN : 0;
  let mce = n === 0 ? Number.NaN : 0;
  const bins: ReliabilityBin[] = [];
  for (let b = 0; b < nb; b++) {
    const c = count[b] as number;
    const meanConfidence = c === 0 ? Number.NaN : (confSum[b] as number) / c;
    const accuracy = c === 0 ? Number.NaN : (hitSum[b] as number) / c;
    if (c > 0) {
      const gap = Math.abs(meanConfidence - accuracy);
      ece += (c / n) * gap;
      mce = Math.max(mce, gap);
    }
    bins.push({ lower: b / nb, upper: (b + 1) / nb, count: c, meanConfidence, accuracy });
  }
  return { ece, mce, mode, bins };
}

/** Expected calibration error: sum over bins of (count / n) * |mean confidence - accuracy|. */
export function expectedCalibrationError(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  options: { bins?: number; mode?: CalibrationMode } = {},
): number {
  return reliability(labels, probs, options).ece;
}

/** Brier score: mean squared difference between the positive-class probability and the label. */
export function brierScore(labels: ArrayLike<number>, probs: ArrayLike<number>): number {
  const { labels: y, scores: p } = checkBinary(labels, probs, "brierScore");
  checkProbabilities(p, "brierScore");
  if (p.length === 0) return Number.NaN;
  let s = 0;
  for (let i = 0; i < p.length; i++) s += ((p[i] as number) - (y[i] as number)) ** 2;
  return s / p.length;
}
