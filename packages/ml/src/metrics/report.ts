/**
 * One JSON-friendly report per head, used by the trainer's eval output and the researcher console.
 * Undefined values (NaN, the +Infinity first ROC threshold) become null so that
 * JSON.parse(JSON.stringify(report)) round-trips exactly.
 */
import { brierScore, type CalibrationMode, reliability } from "./calibration";
import { aurocCI, averagePrecision, rocCurve } from "./roc";
import { type ConfusionMetrics, confusionAt, youdenThreshold } from "./threshold";

export type Num = number | null;

export interface ConfusionReport {
  threshold: Num;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  sensitivity: Num;
  specificity: Num;
  ppv: Num;
  npv: Num;
  f1: Num;
  accuracy: Num;
  kappa: Num;
}

export interface HeadReport {
  /** Items with a label (0/1); null/NaN labels are skipped and counted in `skipped`. */
  n: number;
  skipped: number;
  positives: number;
  negatives: number;
  prevalence: Num;
  auroc: { value: Num; lower: Num; upper: Num; se: Num; level: number; method: "delong" | "bootstrap" };
  /** Average precision; its chance level is `prevalence`. */
  auprc: Num;
  /** Thinned to at most `maxRocPoints` (first and last always kept); threshold null = +Infinity. */
  roc: { fpr: number; tpr: number; threshold: Num }[];
  atThreshold: ConfusionReport;
  atYouden: (ConfusionReport & { youdenJ: Num }) | null;
  calibration: {
    ece: Num;
    mce: Num;
    mode: CalibrationMode;
    bins: { lower: number; upper: number; count: number; meanConfidence: Num; accuracy: Num }[];
  };
  brier: Num;
  warnings: string[];
}

export interface HeadReportOptions {
  /** Decision threshold for `atThreshold`, default 0.5. */
  threshold?: number;
  ci?: { method?: "delong" | "bootstrap"; level?: number; replicates?: number; seed?: number };
  calibrationBins?: number;
  calibrationMode?: CalibrationMode;
  /** Default 200. */
  maxRocPoints?: number;
}

const num = (v: number): Num => (Number.isFinite(v) ? v : null);

function confusionReport(m: ConfusionMetrics): ConfusionReport {
  return {
    threshold: num(m.threshold),
    tp: m.tp,
    fp: m.fp,
    tn: m.tn,
    fn: m.fn,
    sensitivity: num(m.sensitivity),
    specificity: num(m.specificity),
    ppv: num(m.ppv),
    npv: num(m.npv),
    f1: num(m.f1),
    accuracy: num(m.accuracy),
    kappa: num(m.kappa),
  };
}

function thin<T>(points: T[], max: number): T[] {
  if (points.length <= max || max < 2) return points;
  const out: T[] = [];
  const step = (points.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(points[Math.round(i * step)] as T);
  return out;
}

/**
 * Everything for one binary head: AUROC with CI, AUPRC, ROC points, confusion metrics at the given
 * threshold and at Youden's J, calibration (ECE + reliability bins) and Brier score.
 * `labels` entries that are null, undefined or NaN mean "not labelled for this head" and are skipped.
 */
export function perHeadReport(
  labels: ArrayLike<number | null | undefined> | ReadonlyArray<number | boolean | null | undefined>,
  probs: ArrayLike<number>,
  options: HeadReportOptions = {},
): HeadReport {
  if (labels.length !== probs.length) {
    throw new RangeError(
      `perHeadReport: labels (${labels.length}) and probs (${probs.length}) differ in length`,
    );
  }
  const y: number[] = [];
  const p: number[] = [];
  let skipped = 0;
  for (let i = 0; i < labels.length; i++) {
    const raw = labels[i];
    if (raw === null || raw === undefined || (typeof raw === "number" && Number.isNaN(raw))) {
      skipped++;
      continue;
    }
    y.push(typeof raw === "boolean" ? Number(raw) : raw);
    p.push(probs[i] as number);
  }
  const warnings: string[] = [];
  const positives = y.reduce((a, v) => a + (v === 1 ? 1 : 0), 0);
  const negatives = y.length - positives;
  if (y.length === 0) warnings.push("no labelled items: every metric is null");
  else if (positives === 0 || negatives === 0) {
    warnings.push(
      `only ${positives === 0 ? "negatives" : "positives"} present: AUROC, ROC and Youden are undefined`,
    );
  }
  if (positives > 0 && positives < 10) warnings.push(`only ${positives} positives: intervals are wide`);
  const ci = aurocCI(y, p, options.ci);
  if (y.length > 0 && positives > 0 && negatives > 0 && !Number.isFinite(ci.se)) {
    warnings.push("fewer than 2 items of a class: no DeLong interval");
  }
  if (ci.se === 0)
    warnings.push(
      "zero-width AUROC interval (perfect or constant ranking): the sample is too small to judge",
    );
  const cal = reliability(y, p, {
    bins: options.calibrationBins ?? 10,
    mode: options.calibrationMode ?? "top-label",
  });
  const youden = youdenThreshold(y, p);
  return {
    n: y.length,
    skipped,
    positives,
    negatives,
    prevalence: y.length === 0 ? null : positives / y.length,
    auroc: {
      value: num(ci.auroc),
      lower: num(ci.lower),
      upper: num(ci.upper),
      se: num(ci.se),
      level: ci.level,
      method: ci.method,
    },
    auprc: num(averagePrecision(y, p)),
    roc: thin(rocCurve(y, p), options.maxRocPoints ?? 200).map((r) => ({
      fpr: r.fpr,
      tpr: r.tpr,
      threshold: num(r.threshold),
    })),
    atThreshold: confusionReport(confusionAt(y, p, options.threshold ?? 0.5)),
    atYouden: youden ? { ...confusionReport(youden), youdenJ: num(youden.youdenJ) } : null,
    calibration: {
      ece: num(cal.ece),
      mce: num(cal.mce),
      mode: cal.mode,
      bins: cal.bins.map((b) => ({
        lower: b.lower,
        upper: b.upper,
        count: b.count,
        meanConfidence: num(b.meanConfidence),
        accuracy: num(b.accuracy),
      })),
    },
    brier: num(brierScore(y, p)),
    warnings,
  };
}

/**
 * perHeadReport for every head of a model (gate and findings), keyed by head name. A head missing
 * from `probs` throws; labels may use null for items not labelled for that head.
 */
export function headReports(
  labels: Readonly<Record<string, ReadonlyArray<number | boolean | null | undefined>>>,
  probs: Readonly<Record<string, ArrayLike<number>>>,
  options: HeadReportOptions | ((head: string) => HeadReportOptions) = {},
): Record<string, HeadReport> {
  const out: Record<string, HeadReport> = {};
  for (const [head, y] of Object.entries(labels)) {
    const p = probs[head];
    if (!p) throw new RangeError(`headReports: no probabilities for head "${head}"`);
    out[head] = perHeadReport(y, p, typeof options === "function" ? options(head) : options);
  }
  return out;
}
