/**
 * Evaluation metrics in plain TypeScript (no tfjs), usable in the browser and the trainer.
 *
 * Conventions: labels are 0 (negative) / 1 (positive); scores are probabilities or any real-valued
 * score where higher means "more positive"; a prediction is positive when score >= threshold.
 * Undefined values (one class absent, zero denominators) are NaN in the low-level functions and
 * null in `perHeadReport`; malformed input throws a RangeError with a message.
 */

export {
  brierScore,
  type CalibrationMode,
  type CalibrationResult,
  expectedCalibrationError,
  type ReliabilityBin,
  reliability,
} from "./calibration";
export { midranks, normalQuantile } from "./common";
export {
  type CohensKappaOptions,
  type CohensKappaResult,
  cohensKappa,
  cohensKappaFromMatrix,
  type FleissKappaOptions,
  type FleissKappaResult,
  fleissKappa,
  fleissTable,
  type KappaWeights,
} from "./kappa";
export {
  type ConfusionReport,
  type HeadReport,
  type HeadReportOptions,
  headReports,
  type Num,
  perHeadReport,
} from "./report";
export {
  type AurocCiOptions,
  type AurocComparison,
  type AurocInterval,
  auroc,
  aurocCI,
  averagePrecision,
  bootstrapAurocs,
  compareAurocs,
  delongComponents,
  delongVariance,
  normalCdf,
  type PrPoint,
  precisionRecallCurve,
  quantileSorted,
  type RocPoint,
  rocCurve,
} from "./roc";
export { type ConfusionMetrics, confusionAt, metricsFromCounts, youdenThreshold } from "./threshold";
