import { describe, expect, it } from "vitest";
import { createRng } from "../augment/rng";
import {
  baldBinary,
  binaryUncertainty,
  categoricalUncertainty,
  combineHeads,
  getStrategy,
  headUncertainty,
  kCenterGreedy,
  type PoolScores,
  priorityScores,
  strategies,
  topK,
} from "./index";

function randomRows(seed: number, n: number, dim: number): Float32Array[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => rng.normal()));
}

// Independent brute force: recompute every candidate's distance to every centre at each step.
function bruteKCenter(
  rows: Float32Array[],
  k: number,
  centres: number[],
  first: number,
  cosine: boolean,
): number[] {
  const norm = (r: Float32Array) => {
    const s = Math.sqrt(r.reduce((a, v) => a + v * v, 0));
    return cosine ? Array.from(r, (v) => v / s) : Array.from(r);
  };
  const x = rows.map(norm);
  const dist = (a: number, b: number) =>
    (x[a] as number[]).reduce((s, v, d) => s + (v - ((x[b] as number[])[d] as number)) ** 2, 0);
  const chosen: number[] = centres.length === 0 ? [first] : [];
  const all = () => [...centres, ...chosen];
  while (chosen.length < k) {
    let best = -1;
    let bestD = -1;
    for (let i = 0; i < rows.length; i++) {
      if (all().includes(i)) continue;
      const d = Math.min(...all().map((c) => dist(i, c)));
      if (d > bestD) {
        bestD = d;
        best = i;
      }
    }
    chosen.push(best);
  }
  return chosen;
}

describe("uncertainty measures", () => {
  it("binary values by hand", () => {
    for (const m of ["entropy", "margin", "least-confidence"] as const) {
      expect(binaryUncertainty(0.5, m)).toBeCloseTo(1, 9);
      expect(binaryUncertainty(1, m)).toBeCloseTo(0, 9);
      expect(binaryUncertainty(0, m)).toBeCloseTo(0, 9);
    }
    expect(binaryUncertainty(0.8, "entropy")).toBeCloseTo(-(0.8 * Math.log2(0.8) + 0.2 * Math.log2(0.2)), 9);
    expect(binaryUncertainty(0.8, "margin")).toBeCloseTo(0.4, 12);
    expect(binaryUncertainty(0.8, "least-confidence")).toBeCloseTo(0.4, 12);
    expect(() => binaryUncertainty(1.2, "entropy")).toThrow(RangeError);
  });

  it("categorical values by hand; K = 2 equals the binary form", () => {
    expect(categoricalUncertainty([1 / 3, 1 / 3, 1 / 3], "entropy")).toBeCloseTo(1, 12);
    expect(categoricalUncertainty([0, 1, 0], "entropy")).toBeCloseTo(0, 12);
    expect(categoricalUncertainty([0.5, 0.3, 0.2], "margin")).toBeCloseTo(0.8, 12);
    expect(categoricalUncertainty([0.5, 0.3, 0.2], "least-confidence")).toBeCloseTo(0.75, 12);
    for (const p of [0.1, 0.37, 0.5, 0.93]) {
      for (const m of ["entropy", "margin", "least-confidence"] as const) {
        expect(categoricalUncertainty([1 - p, p], m)).toBeCloseTo(binaryUncertainty(p, m), 9);
      }
    }
  });

  it("BALD is zero when passes agree and one bit when they disagree completely", () => {
    const b = baldBinary([
      [0.7, 0, 0.5],
      [0.7, 1, 0.5],
    ]);
    expect(b[0]).toBeCloseTo(0, 9);
    expect(b[1]).toBeCloseTo(1, 6);
    expect(b[2]).toBeCloseTo(0, 9); // confident about being uncertain: aleatoric, not epistemic
    const h = (p: number) => -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
    const c = baldBinary([[0.2], [0.6], [0.9]]);
    expect(c[0]).toBeCloseTo(h((0.2 + 0.6 + 0.9) / 3) - (h(0.2) + h(0.6) + h(0.9)) / 3, 9);
    expect(() => baldBinary([[0.5]])).toThrow(/at least 2/);
  });

  it("combines heads by max, mean and gate weight", () => {
    const gateU = Float64Array.from([0.2, 0.2]);
    const f1 = Float64Array.from([0.8, 0.8]);
    const f2 = Float64Array.from([0.4, 0.4]);
    expect(Array.from(combineHeads([gateU, f1, f2], "max"))).toEqual([0.8, 0.8]);
    expect(combineHeads([gateU, f1, f2], "mean")[0]).toBeCloseTo(1.4 / 3, 12);
    // gate P(abnormal) 0 -> only the gate counts; 1 -> (0.2 + 0.6) / 2
    const g = combineHeads([gateU, f1, f2], "gate-weighted", { gateIndex: 0, gateProbs: [0, 1] });
    expect(g[0]).toBeCloseTo(0.2, 12);
    expect(g[1]).toBeCloseTo(0.4, 12);
    expect(() => combineHeads([gateU], "gate-weighted")).toThrow(/gate/);
  });
});

describe("k-center greedy", () => {
  it("equals a brute-force farthest-point search (euclidean and cosine, with labelled centres)", () => {
    const rows = randomRows(1, 60, 5);
    for (const metric of ["euclidean", "cosine"] as const) {
      const cosine = metric === "cosine";
      const r = kCenterGreedy(rows, { k: 8, centres: [3, 17], metric });
      expect(r.selected).toEqual(bruteKCenter(rows, 8, [3, 17], -1, cosine));
      const s = kCenterGreedy(rows, { k: 6, metric, firstCentre: "random", seed: 5 });
      const first = s.selected[0] as number;
      expect(s.selected).toEqual(bruteKCenter(rows, 6, [], first, cosine));
      // covering radius never grows
      for (let i = 2; i < r.radii.length; i++)
        expect(r.radii[i]).toBeLessThanOrEqual(r.radii[i - 1] as number);
    }
  });

  it("picks one point per cluster and respects candidates", () => {
    const rng = createRng(2);
    const centres = [
      [10, 0],
      [-10, 0],
      [0, 10],
      [0, -10],
    ];
    const rows: Float32Array[] = [];
    for (let i = 0; i < 200; i++) {
      const c = centres[i % 4] as number[];
      rows.push(
        Float32Array.from([(c[0] as number) + 0.1 * rng.normal(), (c[1] as number) + 0.1 * rng.normal()]),
      );
    }
    const r = kCenterGreedy(rows, { k: 4, metric: "euclidean" });
    expect(new Set(r.selected.map((i) => i % 4)).size).toBe(4);
    const only = kCenterGreedy(rows, { k: 3, metric: "euclidean", candidates: [0, 4, 8, 1] });
    expect(only.selected.every((i) => [0, 4, 8, 1].includes(i))).toBe(true);
    // The medoid start is the point nearest the mean; with labelled centres it is not used.
    const withLabelled = kCenterGreedy(rows, { k: 3, metric: "euclidean", centres: [0, 1, 2] });
    expect((withLabelled.selected[0] as number) % 4).toBe(3);
  });

  it("handles 100k x 128 in seconds", () => {
    const n = 100_000;
    const dim = 128;
    const rng = createRng(3);
    const data = new Float32Array(n * dim);
    for (let i = 0; i < data.length; i++) data[i] = rng.next() - 0.5;
    const t0 = performance.now();
    const r = kCenterGreedy({ data, n, dim }, { k: 32, centres: [0, 1, 2, 3], metric: "cosine" });
    const ms = performance.now() - t0;
    expect(r.selected).toHaveLength(32);
    expect(new Set(r.selected).size).toBe(32);
    console.log(`kCenterGreedy 100000 x 128, 4 labelled + 32 picks, cosine: ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(15_000);
  });
});

describe("query strategies", () => {
  const n = 300;
  const rng = createRng(9);
  // Clusters of near-duplicate images; cluster 0 is the uncertain one (p near 0.5).
  const clusterOf = (i: number) => i % 6;
  const gate = Array.from({ length: n }, (_, i) =>
    clusterOf(i) === 0 ? 0.5 + 0.01 * rng.normal() : clusterOf(i) < 3 ? 0.35 : 0.95,
  );
  const finding = Array.from({ length: n }, (_, i) => (clusterOf(i) === 1 ? 0.45 : 0.05));
  const embeddings = Array.from({ length: n }, (_, i) => {
    const v = new Float32Array(8);
    v[clusterOf(i)] = 1;
    for (let d = 0; d < 8; d++) v[d] = (v[d] as number) + 0.01 * rng.normal();
    return v;
  });
  const mcProbs = [
    Array.from({ length: 5 }, (_, t) =>
      gate.map((p, i) => (clusterOf(i) === 2 ? (t % 2 === 0 ? 0.05 : 0.95) : p)),
    ),
    Array.from({ length: 5 }, () => finding),
  ];
  const pool: PoolScores = {
    probs: [gate, finding],
    mcProbs,
    embeddings,
    sslEmbeddings: embeddings,
    gateHead: 0,
  };
  const labelled = [0, 1, 2, 3];
  const exclude = [6, 7];

  it("registers every named strategy", () => {
    expect(Object.keys(strategies).sort()).toEqual(
      [
        "bald",
        "cold-start",
        "entropy",
        "entropy+kcenter",
        "kcenter",
        "least-confidence",
        "margin",
        "random",
      ].sort(),
    );
    expect(() => getStrategy("nope")).toThrow(/unknown query strategy/);
  });

  for (const name of [
    "random",
    "entropy",
    "margin",
    "least-confidence",
    "bald",
    "kcenter",
    "entropy+kcenter",
    "cold-start",
  ]) {
    it(`${name}: a deterministic batch of eligible items that agrees with priorityScores`, () => {
      const s = getStrategy(name);
      const opts = { batchSize: 12, seed: 1, labelled, exclude };
      const batch = s.select(pool, opts);
      expect(batch).toHaveLength(12);
      expect(new Set(batch).size).toBe(12);
      for (const i of batch) expect([...labelled, ...exclude]).not.toContain(i);
      expect(s.select(pool, opts)).toEqual(batch);
      const pr = priorityScores(name, pool, opts);
      expect(topK(pr, 12)).toEqual(batch);
      for (const i of [...labelled, ...exclude]) expect(pr[i]).toBe(-1);
      for (let i = 0; i < n; i++)
        if (![...labelled, ...exclude].includes(i)) expect(pr[i]).toBeGreaterThanOrEqual(0);
    });
  }

  it("uncertainty strategies ask about the uncertain cluster; BALD about the disagreeing one", () => {
    const opts = { batchSize: 10, seed: 1, labelled };
    expect(strategies.entropy?.select(pool, opts).every((i) => clusterOf(i) === 0)).toBe(true);
    expect(strategies.margin?.select(pool, opts).every((i) => clusterOf(i) === 0)).toBe(true);
    expect(strategies.bald?.select(pool, opts).every((i) => clusterOf(i) === 2)).toBe(true);
    // Mean over heads: the finding head's 0.45 cluster (gate 0.35) outranks clusters 3-5.
    const mean = strategies.entropy?.priorities(pool, { ...opts, combine: "mean" });
    expect(mean?.[7] as number).toBeGreaterThan(mean?.[9] as number);
    // Gate-weighted: findings of a likely-normal image (gate 0.35) count less than under mean.
    const gw = strategies.entropy?.priorities(pool, { ...opts, combine: "gate-weighted" });
    expect(gw?.[7] as number).toBeLessThan(mean?.[7] as number);
  });

  it("random depends on the seed", () => {
    const a = strategies.random?.select(pool, { batchSize: 10, seed: 1 });
    const b = strategies.random?.select(pool, { batchSize: 10, seed: 2 });
    expect(a).not.toEqual(b);
  });

  it("entropy+kcenter spreads the batch over clusters among the uncertain ones", () => {
    // Make clusters 0 and 1 uncertain: entropy alone fills the batch from cluster 0 (the most uncertain).
    const p = { ...pool, probs: [gate.map((v, i) => (clusterOf(i) === 1 ? 0.4 : v)), finding] };
    const onlyEntropy = strategies.entropy?.select(p, { batchSize: 4, seed: 1 }) ?? [];
    expect(new Set(onlyEntropy.map(clusterOf)).size).toBe(1);
    // The shortlist (20 * 4 = 80) holds only clusters 0 and 1 (50 items each).
    const combined =
      strategies["entropy+kcenter"]?.select(p, { batchSize: 4, seed: 1, candidateFactor: 20 }) ?? [];
    const clusters = new Set(combined.map(clusterOf));
    expect(clusters.size).toBeGreaterThanOrEqual(2);
    for (const c of clusters) expect([0, 1]).toContain(c);
  });

  it("cold start covers every cluster from SSL embeddings alone", () => {
    const batch =
      strategies["cold-start"]?.select({ sslEmbeddings: embeddings }, { batchSize: 6, seed: 0 }) ?? [];
    expect(new Set(batch.map(clusterOf)).size).toBe(6);
    expect(() =>
      strategies.entropy?.select({ sslEmbeddings: embeddings }, { batchSize: 2, seed: 0 }),
    ).toThrow(/needs probs/);
    expect(() => strategies.kcenter?.select({ probs: [gate] }, { batchSize: 2, seed: 0 })).toThrow(
      /needs embeddings/,
    );
  });

  it("rejects inconsistent pools and bad indices", () => {
    expect(() => strategies.entropy?.select({ probs: [gate, [0.5]] }, { batchSize: 1, seed: 0 })).toThrow(
      /disagree/,
    );
    expect(() => strategies.entropy?.select(pool, { batchSize: 1, seed: 0, labelled: [n] })).toThrow(
      /outside the pool/,
    );
    expect(headUncertainty([0.5, 1], "entropy")[1]).toBeCloseTo(0, 9);
  });
});
