import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createRng } from "../augment/rng";
import {
  auroc,
  aurocCI,
  averagePrecision,
  brierScore,
  cohensKappa,
  cohensKappaFromMatrix,
  compareAurocs,
  confusionAt,
  delongComponents,
  delongVariance,
  expectedCalibrationError,
  fleissKappa,
  fleissTable,
  headReports,
  normalCdf,
  normalQuantile,
  perHeadReport,
  reliability,
  rocCurve,
  youdenThreshold,
} from "./index";

// Independent brute force: enumerate every (positive, negative) pair.
function pairwise(labels: number[], scores: number[]) {
  const pos: number[] = [];
  const neg: number[] = [];
  labels.forEach((l, i) => {
    (l === 1 ? pos : neg).push(scores[i] as number);
  });
  const psi = (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0);
  const v10 = pos.map((x) => neg.reduce((a, y) => a + psi(x, y), 0) / neg.length);
  const v01 = neg.map((y) => pos.reduce((a, x) => a + psi(x, y), 0) / pos.length);
  const auc = v10.reduce((a, v) => a + v, 0) / pos.length;
  const s10 = v10.reduce((a, v) => a + (v - auc) ** 2, 0) / (pos.length - 1);
  const s01 = v01.reduce((a, v) => a + (v - auc) ** 2, 0) / (neg.length - 1);
  return { auc, v10, v01, variance: s10 / pos.length + s01 / neg.length };
}

function randomCase(seed: number, n: number, levels: number) {
  const rng = createRng(seed);
  const labels: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = rng.bool(0.35) ? 1 : 0;
    labels.push(y);
    // Quantized scores so that ties happen often.
    scores.push(Math.round(Math.min(1, Math.max(0, 0.5 + 0.25 * rng.normal() + 0.2 * y)) * levels) / levels);
  }
  return { labels, scores };
}

describe("AUROC", () => {
  it("matches a hand-computed example (3 of 4 pairs ordered)", () => {
    expect(auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(0.75, 12);
  });

  it("counts ties as one half", () => {
    // pos 0.5 vs neg 0.5 tie (0.5), vs 0.2 (1); pos 0.9 beats both (2) -> 3.5 / 4
    expect(auroc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBeCloseTo(0.875, 12);
    expect(auroc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3])).toBe(0.5);
  });

  it("equals the pairwise brute force on random tied data", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { labels, scores } = randomCase(seed, 60, 8);
      expect(auroc(labels, scores)).toBeCloseTo(pairwise(labels, scores).auc, 12);
    }
  });

  it("reproduces Hanley & McNeil (1982) rating data: AUROC 0.893", () => {
    const normal = [33, 6, 6, 11, 2];
    const abnormal = [3, 2, 2, 11, 33];
    const labels: number[] = [];
    const scores: number[] = [];
    normal.forEach((c, r) => {
      for (let i = 0; i < c; i++) {
        labels.push(0);
        scores.push(r + 1);
      }
    });
    abnormal.forEach((c, r) => {
      for (let i = 0; i < c; i++) {
        labels.push(1);
        scores.push(r + 1);
      }
    });
    expect(auroc(labels, scores)).toBeCloseTo(0.893, 3);
    // Hanley-McNeil's own SE is 0.032; DeLong's estimator is a different formula but agrees closely.
    const ci = aurocCI(labels, scores);
    expect(ci.se).toBeGreaterThan(0.025);
    expect(ci.se).toBeLessThan(0.04);
  });

  it("is NaN with one class, and rejects malformed input", () => {
    expect(auroc([1, 1, 1], [0.1, 0.2, 0.3])).toBeNaN();
    expect(rocCurve([0, 0], [0.1, 0.2])).toEqual([]);
    expect(Number.isNaN(aurocCI([0, 0], [0.1, 0.2]).lower)).toBe(true);
    expect(() => auroc([0, 1], [0.1])).toThrow(RangeError);
    expect(() => auroc([0, 2], [0.1, 0.2])).toThrow(/expected 0 or 1/);
    expect(() => auroc([0, 1], [0.1, Number.NaN])).toThrow(/finite/);
  });
});

describe("DeLong", () => {
  it("structural components and variance equal the brute-force definitions", () => {
    for (let seed = 1; seed <= 10; seed++) {
      const { labels, scores } = randomCase(100 + seed, 50, 6);
      const brute = pairwise(labels, scores);
      const d = delongComponents(labels, scores);
      expect(d.auroc).toBeCloseTo(brute.auc, 12);
      brute.v10.forEach((v, i) => {
        expect(d.v10[i]).toBeCloseTo(v, 12);
      });
      brute.v01.forEach((v, j) => {
        expect(d.v01[j]).toBeCloseTo(v, 12);
      });
      expect(delongVariance(labels, scores)).toBeCloseTo(brute.variance, 12);
    }
  });

  it("builds a z interval clipped to [0, 1]", () => {
    const { labels, scores } = randomCase(7, 80, 10);
    const ci = aurocCI(labels, scores, { level: 0.95 });
    const z = normalQuantile(0.975);
    expect(z).toBeCloseTo(1.959964, 5);
    expect(ci.lower).toBeCloseTo(Math.max(0, ci.auroc - z * ci.se), 12);
    expect(ci.upper).toBeCloseTo(Math.min(1, ci.auroc + z * ci.se), 12);
    const perfect = aurocCI([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]);
    expect(perfect.auroc).toBe(1);
    expect(perfect.upper).toBe(1);
  });
});

describe("DeLong paired comparison", () => {
  it("matches the brute-force covariance of structural components", () => {
    const { labels, scores } = randomCase(31, 90, 12);
    const rng = createRng(32);
    const other = scores.map((s) => Math.min(1, Math.max(0, s + 0.2 * rng.normal())));
    const a = pairwise(labels, scores);
    const b = pairwise(labels, other);
    const cov = (x: number[], y: number[], mx: number, my: number) =>
      x.reduce((acc, v, i) => acc + (v - mx) * ((y[i] as number) - my), 0) / (x.length - 1);
    const n1 = a.v10.length;
    const n0 = a.v01.length;
    const variance =
      (cov(a.v10, a.v10, a.auc, a.auc) +
        cov(b.v10, b.v10, b.auc, b.auc) -
        2 * cov(a.v10, b.v10, a.auc, b.auc)) /
        n1 +
      (cov(a.v01, a.v01, a.auc, a.auc) +
        cov(b.v01, b.v01, b.auc, b.auc) -
        2 * cov(a.v01, b.v01, a.auc, b.auc)) /
        n0;
    const c = compareAurocs(labels, scores, other);
    expect(c.difference).toBeCloseTo(a.auc - b.auc, 12);
    expect(c.se).toBeCloseTo(Math.sqrt(variance), 12);
    expect(c.pValue).toBeCloseTo(2 * (1 - normalCdf(Math.abs(c.z))), 12);
    expect(c.pValue).toBeGreaterThan(0);
    expect(c.pValue).toBeLessThan(1);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    // A model compared with itself: no difference, no test.
    const self = compareAurocs(labels, scores, scores);
    expect(self.difference).toBe(0);
    expect(self.pValue).toBeNaN();
  });
});

describe("bootstrap CI", () => {
  it("is seeded, contains the estimate and is close to DeLong on a moderate sample", () => {
    const { labels, scores } = randomCase(11, 300, 20);
    const a = aurocCI(labels, scores, { method: "bootstrap", seed: 3, replicates: 500 });
    const b = aurocCI(labels, scores, { method: "bootstrap", seed: 3, replicates: 500 });
    const c = aurocCI(labels, scores, { method: "bootstrap", seed: 4, replicates: 500 });
    expect(a).toEqual(b);
    expect(a.lower).not.toBe(c.lower);
    expect(a.lower).toBeLessThan(a.auroc);
    expect(a.upper).toBeGreaterThan(a.auroc);
    const d = aurocCI(labels, scores);
    expect(Math.abs(a.se - d.se) / d.se).toBeLessThan(0.25);
    expect(Math.abs(a.lower - d.lower)).toBeLessThan(0.03);
  });
});

describe("ROC and AUPRC", () => {
  it("ROC points match a hand-computed curve", () => {
    expect(rocCurve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toEqual([
      { fpr: 0, tpr: 0, threshold: Number.POSITIVE_INFINITY },
      { fpr: 0, tpr: 0.5, threshold: 0.8 },
      { fpr: 0.5, tpr: 0.5, threshold: 0.4 },
      { fpr: 0.5, tpr: 1, threshold: 0.35 },
      { fpr: 1, tpr: 1, threshold: 0.1 },
    ]);
  });

  it("trapezoid area under the ROC points equals AUROC (ties included)", () => {
    for (let seed = 1; seed <= 5; seed++) {
      const { labels, scores } = randomCase(200 + seed, 70, 5);
      const pts = rocCurve(labels, scores);
      let area = 0;
      for (let i = 1; i < pts.length; i++) {
        const p = pts[i - 1];
        const q = pts[i];
        if (p && q) area += ((q.fpr - p.fpr) * (q.tpr + p.tpr)) / 2;
      }
      expect(area).toBeCloseTo(auroc(labels, scores), 12);
    }
  });

  it("average precision is step-wise: 0.5 * 1 + 0.5 * 2/3", () => {
    expect(averagePrecision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(5 / 6, 12);
    // A tie group is one threshold: both items enter at once, precision 1/2, recall 1.
    expect(averagePrecision([0, 1], [0.5, 0.5])).toBeCloseTo(0.5, 12);
    expect(averagePrecision([0, 0], [0.5, 0.6])).toBeNaN();
    expect(averagePrecision([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1])).toBe(1);
  });
});

describe("confusion metrics", () => {
  it("at a threshold (positive when score >= threshold)", () => {
    const m = confusionAt([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.5);
    expect([m.tp, m.fp, m.tn, m.fn]).toEqual([1, 0, 2, 1]);
    expect(m.sensitivity).toBe(0.5);
    expect(m.specificity).toBe(1);
    expect(m.ppv).toBe(1);
    expect(m.npv).toBeCloseTo(2 / 3, 12);
    expect(m.f1).toBeCloseTo(2 / 3, 12);
    expect(m.accuracy).toBe(0.75);
    expect(m.kappa).toBeCloseTo(0.5, 12); // po 0.75, pe (1*2 + 3*2)/16 = 0.5
    expect(confusionAt([0, 1], [0.5, 0.5], 0.5).tp).toBe(1);
    expect(confusionAt([0, 1], [0.1, 0.2], 0.9).ppv).toBeNaN();
  });

  it("Youden's J picks the best observed threshold, the highest on ties", () => {
    const y = youdenThreshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]);
    expect(y?.youdenJ).toBeCloseTo(0.5, 12);
    expect(y?.threshold).toBe(0.8);
    expect(y?.sensitivity).toBe(0.5);
    expect(y?.specificity).toBe(1);
    const z = youdenThreshold([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.7, 0.9]);
    // thresholds: 0.9 (1/3-0), 0.7 (2/3-0), 0.6 (2/3-1/3), 0.5 (1-1/3) -> 0.7
    expect(z?.threshold).toBe(0.7);
    expect(z?.youdenJ).toBeCloseTo(2 / 3, 12);
    expect(youdenThreshold([1, 1], [0.2, 0.3])).toBeNull();
  });
});

describe("Cohen's kappa", () => {
  it("Wikipedia's worked example: 20 yes-yes, 5 yes-no, 10 no-yes, 15 no-no -> 0.4", () => {
    const a: number[] = [];
    const b: number[] = [];
    const add = (x: number, y: number, c: number) => {
      for (let i = 0; i < c; i++) {
        a.push(x);
        b.push(y);
      }
    };
    add(1, 1, 20);
    add(1, 0, 5);
    add(0, 1, 10);
    add(0, 0, 15);
    const k = cohensKappa(a, b);
    expect(k.observedAgreement).toBeCloseTo(0.7, 12);
    expect(k.expectedAgreement).toBeCloseTo(0.5, 12);
    expect(k.kappa).toBeCloseTo(0.4, 12);
    expect(k.matrix).toEqual([
      [15, 10],
      [5, 20],
    ]);
  });

  it("weighted kappa equals the agreement-weight formula (po_w - pe_w) / (1 - pe_w)", () => {
    const m = [
      [10, 4, 1],
      [3, 12, 5],
      [0, 2, 8],
    ];
    const n = 45;
    const rows = m.map((r) => r.reduce((a, v) => a + v, 0));
    const cols = [0, 1, 2].map((j) => m.reduce((a, r) => a + (r[j] as number), 0));
    for (const weights of ["linear", "quadratic"] as const) {
      let pow = 0;
      let pew = 0;
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          const d = Math.abs(i - j) / 2;
          const agree = 1 - (weights === "linear" ? d : d * d);
          pow += (agree * ((m[i] as number[])[j] as number)) / n;
          pew += (agree * (rows[i] as number) * (cols[j] as number)) / (n * n);
        }
      }
      expect(cohensKappaFromMatrix(m, weights).kappa).toBeCloseTo((pow - pew) / (1 - pew), 12);
    }
    // By hand, linear: observed disagreement ((4+3+5+2) * 0.5 + (1+0) * 1) / 45 = 8/45; expected from
    // margins rows (15, 20, 10), cols (13, 18, 14): (0.5 * 990 + 340) / 2025 = 835/2025 -> 1 - 360/835.
    expect(cohensKappaFromMatrix(m, "linear").kappa).toBeCloseTo(1 - 360 / 835, 12);
  });

  it("with two categories every weighting equals unweighted kappa; constant raters give NaN", () => {
    const a = [0, 1, 1, 0, 1, 1, 0, 0, 1, 0];
    const b = [0, 1, 0, 0, 1, 1, 1, 0, 1, 1];
    const k = cohensKappa(a, b).kappa;
    expect(cohensKappa(a, b, { weights: "linear" }).kappa).toBeCloseTo(k, 12);
    expect(cohensKappa(a, b, { weights: "quadratic" }).kappa).toBeCloseTo(k, 12);
    expect(cohensKappa([1, 1, 1], [1, 1, 1]).kappa).toBeNaN();
    expect(() => cohensKappa([0, 1], [0])).toThrow(RangeError);
    expect(() => cohensKappa([0, 3], [0, 1], { categories: [0, 1] })).toThrow(/not in/);
  });
});

describe("Fleiss' kappa", () => {
  // Wikipedia's worked example: 10 items, 14 raters, 5 categories; P-bar 0.378, P-bar_e 0.213, kappa 0.210.
  const table = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
  ];

  it("reproduces the worked example", () => {
    const f = fleissKappa(table);
    expect(f.observedAgreement).toBeCloseTo(0.378, 3);
    expect(f.expectedAgreement).toBeCloseTo(0.213, 3);
    expect(f.kappa).toBeCloseTo(0.21, 3);
    expect(f.categoryProportions.map((p) => Number(p.toFixed(3)))).toEqual([0.143, 0.2, 0.279, 0.15, 0.229]);
    expect(f.raters).toBe(14);
  });

  it("with two raters on two categories it equals Scott's pi", () => {
    const a = [0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1];
    const b = [0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1];
    const f = fleissKappa(
      fleissTable(
        a.map((v, i) => [v, b[i]]),
        [0, 1],
      ),
    );
    // Scott's pi by hand: po = 9/12; pooled p1 = 15/24 -> pe = (15/24)^2 + (9/24)^2.
    const pe = (15 / 24) ** 2 + (9 / 24) ** 2;
    expect(f.kappa).toBeCloseTo((9 / 12 - pe) / (1 - pe), 12);
  });

  it("refuses varying raters unless asked, and the generalized form reduces to Fleiss", () => {
    const varying = [
      [2, 1],
      [0, 3],
      [1, 1],
    ];
    expect(() => fleissKappa(varying)).toThrow(/different numbers of raters/);
    const g = fleissKappa(varying, { allowVaryingRaters: true });
    // P_i: (2*1 + 0)/(3*2) = 1/3, 1, 0 -> 4/9; p = (3/8, 5/8)
    const pe = (3 / 8) ** 2 + (5 / 8) ** 2;
    expect(g.kappa).toBeCloseTo((4 / 9 - pe) / (1 - pe), 12);
    expect(g.raters).toBeNull();
    expect(fleissKappa(table, { allowVaryingRaters: true }).kappa).toBeCloseTo(fleissKappa(table).kappa, 12);
    expect(() => fleissTable([[0, 5]], [0, 1])).toThrow(/not in/);
  });
});

describe("calibration", () => {
  it("top-label ECE, bins and Brier by hand", () => {
    const labels = [1, 0, 0, 1];
    const probs = [0.9, 0.8, 0.3, 0.6];
    // confidences 0.9, 0.8, 0.7, 0.6; correct 1, 0, 1, 1 -> ECE = (0.1 + 0.8 + 0.3 + 0.4) / 4
    expect(expectedCalibrationError(labels, probs)).toBeCloseTo(0.4, 12);
    const r = reliability(labels, probs);
    expect(r.bins.map((b) => b.count)).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    expect(r.bins[8]?.accuracy).toBe(0);
    expect(r.bins[0]?.meanConfidence).toBeNaN();
    expect(r.mce).toBeCloseTo(0.8, 12);
    expect(brierScore(labels, probs)).toBeCloseTo((0.01 + 0.64 + 0.09 + 0.16) / 4, 12);
  });

  it("positive-class reliability bins; perfectly calibrated bins give ECE 0", () => {
    const labels = [0, 0, 0, 1, 1, 1, 1, 0];
    const probs = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75];
    const r = reliability(labels, probs, { bins: 4, mode: "positive" });
    expect(r.ece).toBeCloseTo(0, 12);
    expect(r.bins[1]).toEqual({ lower: 0.25, upper: 0.5, count: 4, meanConfidence: 0.25, accuracy: 0.25 });
    expect(reliability([1], [1], { bins: 10, mode: "positive" }).bins[9]?.count).toBe(1);
    expect(() => brierScore([1], [1.5])).toThrow(/\[0, 1\]/);
  });
});

describe("perHeadReport", () => {
  it("returns every metric as a JSON round-trippable object, skipping unlabelled items", () => {
    const { labels, scores } = randomCase(5, 120, 50);
    const withMissing: (number | null)[] = [...labels, null, null];
    const probs = [...scores, 0.5, 0.5];
    const r = perHeadReport(withMissing, probs, { threshold: 0.6, maxRocPoints: 20 });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(r.n).toBe(120);
    expect(r.skipped).toBe(2);
    expect(r.auroc.value).toBeCloseTo(auroc(labels, scores), 12);
    expect(r.auprc).toBeCloseTo(averagePrecision(labels, scores), 12);
    expect(r.atThreshold.threshold).toBe(0.6);
    expect(r.atThreshold.sensitivity).toBeCloseTo(confusionAt(labels, scores, 0.6).sensitivity, 12);
    expect(r.atYouden?.youdenJ).toBeCloseTo(youdenThreshold(labels, scores)?.youdenJ ?? Number.NaN, 12);
    expect(r.roc.length).toBeLessThanOrEqual(20);
    expect(r.roc[0]).toEqual({ fpr: 0, tpr: 0, threshold: null });
    expect(r.roc.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
    expect(r.calibration.bins).toHaveLength(10);
    expect(r.brier).toBeCloseTo(brierScore(labels, scores), 12);
    expect(r.warnings).toEqual([]);
  });

  it("headReports reports every head by name", () => {
    const r = headReports(
      { gate: [0, 1, 1, 0], effusion: [null, 1, 0, 0] },
      { gate: [0.2, 0.8, 0.7, 0.1], effusion: [0.5, 0.9, 0.3, 0.2] },
    );
    expect(Object.keys(r)).toEqual(["gate", "effusion"]);
    expect(r.gate?.auroc.value).toBe(1);
    expect(r.effusion?.n).toBe(3);
    expect(() => headReports({ gate: [0, 1] }, {})).toThrow(/no probabilities/);
  });

  it("reports one-class heads with nulls and a warning instead of throwing", () => {
    const r = perHeadReport([0, 0, 0], [0.1, 0.7, 0.2]);
    expect(r.auroc.value).toBeNull();
    expect(r.auprc).toBeNull();
    expect(r.atYouden).toBeNull();
    expect(r.roc).toEqual([]);
    expect(r.atThreshold.specificity).toBeCloseTo(2 / 3, 12);
    expect(r.atThreshold.sensitivity).toBeNull();
    expect(r.warnings.join(" ")).toMatch(/only negatives/);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});

describe("browser safety", () => {
  it("metrics, selection and the RNG import no tfjs and no node modules", () => {
    const here = path.dirname(new URL(import.meta.url).pathname);
    const files = [
      ...readdirSync(here).map((f) => path.join(here, f)),
      ...readdirSync(path.join(here, "../selection")).map((f) => path.join(here, "../selection", f)),
      path.join(here, "../augment/rng.ts"),
    ].filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    expect(files.length).toBeGreaterThan(8);
    for (const f of files) {
      const imports = [...readFileSync(f, "utf8").matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1] as string);
      for (const i of imports)
        expect(i.startsWith("./") || i === "../augment/rng", `${f} imports ${i}`).toBe(true);
    }
  });

  it("warns about a zero-width interval under perfect separation", () => {
    const r = perHeadReport([0, 1, 1, 0], [0.2, 0.7, 0.6, 0.4]);
    expect(r.auroc.value).toBe(1);
    expect(r.warnings.join(" ")).toMatch(/zero-width/);
  });
});
