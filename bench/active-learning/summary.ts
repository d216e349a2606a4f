/**
 * Turns bench/active-learning/run.ts's JSON lines into the markdown tables of docs/benchmarks.md:
 * AUROC per round and strategy, the normalized area under each learning curve (trapezoids over the
 * labels used, divided by the label range = the curve's mean AUROC), and the labels each strategy
 * needed to reach 95% of the full-label AUROC.
 *
 *   pnpm exec tsx bench/active-learning/summary.ts bench/active-learning/results/knee-32.jsonl
 *   pnpm exec tsx bench/active-learning/summary.ts seed0.jsonl seed1.jsonl ...   (one file per seed)
 *
 * With several files (one per seed) every cell is the mean over seeds with the spread (min-max) and
 * the per-seed tables follow. The full-label reference is the mean of the "full" rows found in any
 * file (a seed run with --no-full uses the other seeds' reference).
 */
import { readFile } from "node:fs/promises";

interface Row {
  kind: "round" | "full";
  strategy: string;
  round?: number;
  labels: number;
  auroc: number;
  trainSeconds?: number;
}

export function curveArea(points: ReadonlyArray<{ labels: number; auroc: number }>): number {
  const p = [...points].sort((a, b) => a.labels - b.labels);
  const first = p[0];
  const last = p[p.length - 1];
  if (!first || !last || last.labels === first.labels) return first?.auroc ?? Number.NaN;
  let area = 0;
  for (let i = 1; i < p.length; i++) {
    const a = p[i - 1];
    const b = p[i];
    if (a && b) area += ((a.auroc + b.auroc) / 2) * (b.labels - a.labels);
  }
  return area / (last.labels - first.labels);
}

interface Summary {
  strategies: string[];
  labelSteps: number[];
  auroc: Map<string, Map<number, number>>;
  area: Map<string, number>;
  reach: Map<string, number | null>;
}

const files = process.argv.slice(2);
if (files.length === 0) throw new Error("usage: summary.ts <results.jsonl> [more seeds' results.jsonl ...]");
const perFile: Row[][] = [];
for (const f of files) {
  perFile.push(
    (await readFile(f, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Row),
  );
}
const fulls = perFile.flat().filter((r) => r.kind === "full");
const fullAuroc = fulls.length ? fulls.reduce((a, r) => a + r.auroc, 0) / fulls.length : Number.NaN;
const fullLabels = fulls[0]?.labels;
const target = 0.95 * fullAuroc;

function summarize(rows: Row[]): Summary {
  const rounds = rows.filter((r) => r.kind === "round");
  const strategies = [...new Set(rounds.map((r) => r.strategy))];
  const labelSteps = [...new Set(rounds.map((r) => r.labels))].sort((a, b) => a - b);
  const auroc = new Map<string, Map<number, number>>();
  const area = new Map<string, number>();
  const reach = new Map<string, number | null>();
  for (const s of strategies) {
    const pts = rounds.filter((r) => r.strategy === s).sort((a, b) => a.labels - b.labels);
    auroc.set(s, new Map(pts.map((p) => [p.labels, p.auroc])));
    area.set(s, curveArea(pts));
    reach.set(s, pts.find((p) => p.auroc >= target)?.labels ?? null);
  }
  return { strategies, labelSteps, auroc, area, reach };
}

const sums = perFile.map(summarize);
const strategies = [...new Set(sums.flatMap((x) => x.strategies))];
const labelSteps = [...new Set(sums.flatMap((x) => x.labelSteps))].sort((a, b) => a - b);
const stats = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.length > 1
    ? `${mean.toFixed(3)} (${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)})`
    : mean.toFixed(3);
};
const out: string[] = [];
const n = sums.length;
out.push(n > 1 ? `Mean AUROC over ${n} seeds (min-max):` : "AUROC per round:");
out.push("");
out.push(`| labels used | ${strategies.join(" | ")} |`);
out.push(`|---:|${strategies.map(() => "---:").join("|")}|`);
for (const k of labelSteps) {
  const cells = strategies.map((s) => {
    const xs = sums.map((x) => x.auroc.get(s)?.get(k)).filter((v): v is number => v !== undefined);
    return xs.length ? stats(xs) : "";
  });
  out.push(`| ${k} | ${cells.join(" | ")} |`);
}
if (fulls.length)
  out.push(
    `| ${fullLabels} (all, full-label reference${fulls.length > 1 ? `, mean of ${fulls.length}` : ""}) | ${strategies.map(() => fullAuroc.toFixed(3)).join(" | ")} |`,
  );
out.push("");
out.push(
  `| strategy | area under the curve (mean AUROC over ${labelSteps[0]}-${labelSteps[labelSteps.length - 1]} labels) | labels to reach 95% of full-label AUROC (${Number.isFinite(target) ? target.toFixed(3) : "n/a"}), per seed |`,
);
out.push("|---|---:|---|");
for (const s of strategies) {
  const areas = sums.map((x) => x.area.get(s)).filter((v): v is number => v !== undefined);
  const reaches = sums.map((x) => {
    const r = x.reach.get(s);
    return r === undefined
      ? "-"
      : r === null
        ? `not by ${x.labelSteps[x.labelSteps.length - 1] ?? 0}`
        : String(r);
  });
  out.push(`| ${s} | ${stats(areas)} | ${reaches.join(", ")} |`);
}
if (n > 1) {
  sums.forEach((x, i) => {
    out.push("");
    out.push(`${files[i]}:`);
    out.push("");
    out.push(`| labels used | ${x.strategies.join(" | ")} |`);
    out.push(`|---:|${x.strategies.map(() => "---:").join("|")}|`);
    for (const k of x.labelSteps)
      out.push(`| ${k} | ${x.strategies.map((s) => x.auroc.get(s)?.get(k)?.toFixed(3) ?? "").join(" | ")} |`);
  });
}
process.stdout.write(`${out.join("\n")}\n`);
