/**
 * Turns bench/active-learning/run.ts's JSON lines into the markdown tables of docs/benchmarks.md:
 * AUROC per round and strategy, the normalized area under each learning curve (trapezoids over the
 * labels used, divided by the label range = the curve's mean AUROC), and the labels each strategy
 * needed to reach 95% of the full-label AUROC.
 *
 *   pnpm exec tsx bench/active-learning/summary.ts bench/active-learning/results/knee-32.jsonl
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

const file = process.argv[2];
if (!file) throw new Error("usage: summary.ts <results.jsonl>");
const rows = (await readFile(file, "utf8"))
  .split("\n")
  .filter(Boolean)
  .map((l) => JSON.parse(l) as Row);
const full = rows.find((r) => r.kind === "full");
const target = full ? 0.95 * full.auroc : Number.NaN;
const strategies = [...new Set(rows.filter((r) => r.kind === "round").map((r) => r.strategy))];
const byStrategy = new Map(
  strategies.map((s) => [
    s,
    rows.filter((r) => r.kind === "round" && r.strategy === s).sort((a, b) => a.labels - b.labels),
  ]),
);
const labelSteps = [...new Set(rows.filter((r) => r.kind === "round").map((r) => r.labels))].sort(
  (a, b) => a - b,
);
const out: string[] = [];
out.push(`| labels used | ${strategies.join(" | ")} |`);
out.push(`|---:|${strategies.map(() => "---:").join("|")}|`);
for (const n of labelSteps) {
  const cells = strategies.map((s) => {
    const r = byStrategy.get(s)?.find((x) => x.labels === n);
    return r ? r.auroc.toFixed(3) : "";
  });
  out.push(`| ${n} | ${cells.join(" | ")} |`);
}
if (full)
  out.push(
    `| ${full.labels} (all, full-label reference) | ${strategies.map(() => full.auroc.toFixed(3)).join(" | ")} |`,
  );
out.push("");
out.push(
  `| strategy | area under the curve (mean AUROC over ${labelSteps[0]}-${labelSteps[labelSteps.length - 1]} labels) | labels to reach 95% of full-label AUROC (${Number.isFinite(target) ? target.toFixed(3) : "n/a"}) |`,
);
out.push("|---|---:|---|");
for (const s of strategies) {
  const pts = byStrategy.get(s) ?? [];
  const hit = pts.find((p) => p.auroc >= target);
  out.push(
    `| ${s} | ${curveArea(pts).toFixed(3)} | ${hit ? String(hit.labels) : `not reached by ${pts[pts.length - 1]?.labels ?? 0}`} |`,
  );
}
process.stdout.write(`${out.join("\n")}\n`);
