/**
 * Reading model_versions.metrics ({ [head]: perHeadReport(...), _summary: {...} }, or { heads: {...} })
 * safely on the client: the column is JSON, so every field is checked before use.
 */
export interface HeadMetrics {
  n: number | null;
  positives: number | null;
  negatives: number | null;
  auroc: { value: number | null; lower: number | null; upper: number | null; level: number | null };
  auprc: number | null;
  prevalence: number | null;
  roc: { fpr: number; tpr: number }[];
  sensitivity: number | null;
  specificity: number | null;
  threshold: number | null;
  youden: { threshold: number | null; sensitivity: number | null; specificity: number | null } | null;
  ece: number | null;
  brier: number | null;
  bins: { lower: number; upper: number; count: number; confidence: number | null; accuracy: number | null }[];
}

const rec = (v: unknown): Record<string, unknown> | null =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function headsOf(metrics: unknown): Record<string, unknown> {
  const m = rec(metrics) ?? {};
  const source = rec(m.heads) ?? m;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(source)) if (!k.startsWith("_") && rec(v)) out[k] = v;
  return out;
}

export function headMetrics(metrics: unknown): Record<string, HeadMetrics> {
  const out: Record<string, HeadMetrics> = {};
  for (const [head, raw] of Object.entries(headsOf(metrics))) {
    const r = rec(raw) ?? {};
    const auroc = rec(r.auroc);
    const at = rec(r.atThreshold);
    const yd = rec(r.atYouden);
    const cal = rec(r.calibration);
    out[head] = {
      n: num(r.n),
      positives: num(r.positives),
      negatives: num(r.negatives),
      auroc: {
        value: num(auroc?.value ?? r.auroc),
        lower: num(auroc?.lower),
        upper: num(auroc?.upper),
        level: num(auroc?.level),
      },
      auprc: num(r.auprc),
      prevalence: num(r.prevalence),
      roc: (Array.isArray(r.roc) ? r.roc : []).flatMap((p) => {
        const q = rec(p);
        const fpr = num(q?.fpr);
        const tpr = num(q?.tpr);
        return fpr !== null && tpr !== null ? [{ fpr, tpr }] : [];
      }),
      sensitivity: num(at?.sensitivity),
      specificity: num(at?.specificity),
      threshold: num(at?.threshold),
      youden: yd
        ? { threshold: num(yd.threshold), sensitivity: num(yd.sensitivity), specificity: num(yd.specificity) }
        : null,
      ece: num(cal?.ece),
      brier: num(r.brier),
      bins: (Array.isArray(cal?.bins) ? cal.bins : []).flatMap((b) => {
        const q = rec(b);
        const lower = num(q?.lower);
        const upper = num(q?.upper);
        if (lower === null || upper === null) return [];
        return [
          {
            lower,
            upper,
            count: num(q?.count) ?? 0,
            confidence: num(q?.meanConfidence),
            accuracy: num(q?.accuracy),
          },
        ];
      }),
    };
  }
  return out;
}

/** head -> AUROC point estimate. */
export function aurocOf(metrics: unknown): Record<string, number | null> {
  return Object.fromEntries(Object.entries(headMetrics(metrics)).map(([h, m]) => [h, m.auroc.value]));
}
