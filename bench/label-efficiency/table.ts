/**
 * Prints the markdown table of label-efficiency results (JSON lines written by run.ts).
 *   pnpm exec tsx bench/label-efficiency/table.ts bench/label-efficiency/results/pneumonia-s0-*.jsonl
 */
import { readFile } from "node:fs/promises";

interface Row {
  dataset: string;
  arm: string;
  fraction: number;
  nLabelled: number;
  auroc: number;
  aurocLower: number;
  aurocUpper: number;
  auprc: number;
  trainSeconds: number;
  sslSeconds: number;
  seed: number;
  steps: number;
  encoder: { width: number };
  maskRate?: Record<string, number>;
}

const rows: Row[] = [];
for (const f of process.argv.slice(2)) {
  const text = await readFile(f, "utf8").catch(() => "");
  for (const line of text.split("\n")) if (line.trim()) rows.push(JSON.parse(line) as Row);
}
const arms = ["sup", "fm", "sslfm"];
const armName: Record<string, string> = {
  sup: "supervised only",
  fm: "FixMatch (scratch)",
  sslfm: "SimCLR + FixMatch",
};
const fractions = [...new Set(rows.map((r) => r.fraction))].sort((a, b) => a - b);
// The main grid uses the most common step budget; other budgets are listed separately.
const stepCounts = new Map<number, number>();
for (const r of rows) stepCounts.set(r.steps, (stepCounts.get(r.steps) ?? 0) + 1);
const mainSteps = [...stepCounts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
for (const ds of [...new Set(rows.map((r) => r.dataset))]) {
  console.log(`\n${ds} — AUROC [95% DeLong CI] (labelled images), ${mainSteps} fine-tuning steps\n`);
  console.log(`| labels | ${arms.map((a) => armName[a]).join(" | ")} |`);
  console.log(`|---|${arms.map(() => "---").join("|")}|`);
  for (const fr of fractions) {
    const cells = arms.map((a) => {
      const rs = rows.filter(
        (r) => r.dataset === ds && r.arm === a && r.fraction === fr && r.steps === mainSteps,
      );
      if (rs.length === 0) return "not run";
      const mean = rs.reduce((s, r) => s + r.auroc, 0) / rs.length;
      const r0 = rs[0] as Row;
      const ci =
        rs.length === 1
          ? ` [${r0.aurocLower.toFixed(3)}, ${r0.aurocUpper.toFixed(3)}]`
          : ` (n=${rs.length} seeds)`;
      return `${mean.toFixed(3)}${ci} (${r0.nLabelled})`;
    });
    console.log(`| ${fr * 100}% | ${cells.join(" | ")} |`);
  }
  console.log("\nper-run wall time (s) on the shared 2-core machine:");
  for (const r of rows.filter((x) => x.dataset === ds && x.steps !== mainSteps)) {
    console.log(
      `- other budget: ${r.arm} ${r.fraction * 100}% with ${r.steps} steps: AUROC ${r.auroc.toFixed(3)} [${r.aurocLower.toFixed(3)}, ${r.aurocUpper.toFixed(3)}]`,
    );
  }
  for (const r of rows.filter((x) => x.dataset === ds)) {
    const mask = r.maskRate ? ` mask rate ${Object.values(r.maskRate)[0]?.toFixed(2)}` : "";
    console.log(
      `- ${r.arm} ${r.fraction * 100}% (${r.steps} steps): fine-tune ${r.trainSeconds.toFixed(0)} s${r.sslSeconds ? ` (+ SimCLR ${r.sslSeconds.toFixed(0)} s, shared)` : ""}, AUPRC ${r.auprc.toFixed(3)}${mask}`,
    );
  }
}
