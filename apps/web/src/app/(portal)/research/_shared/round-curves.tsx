"use client";

import { XYChart } from "@/components/charts/xy-chart";

interface SeriesRow {
  stage: string;
  epoch: number;
  values: Record<string, number>;
}

/** Loss curves and the FixMatch mask rate from a round's per-epoch metrics. */
export function RoundCurves({ series }: { series: SeriesRow[] }) {
  const lossKeys = new Map<string, { x: number; y: number }[]>();
  const mask = new Map<string, { x: number; y: number }[]>();
  for (const row of series) {
    for (const [k, v] of Object.entries(row.values)) {
      if (!Number.isFinite(v)) continue;
      if (/mask/i.test(k)) {
        const list = mask.get(k) ?? [];
        list.push({ x: row.epoch, y: v });
        mask.set(k, list);
      } else if (/loss/i.test(k)) {
        const name = `${row.stage} ${k}`;
        const list = lossKeys.get(name) ?? [];
        list.push({ x: row.epoch, y: v });
        lossKeys.set(name, list);
      }
    }
  }
  return (
    <div className="chart-grid">
      <XYChart
        title="Training losses"
        xLabel="epoch"
        yLabel="loss (nats)"
        testId="loss-curve"
        series={[...lossKeys].map(([name, points]) => ({ name, points }))}
      />
      <XYChart
        title="FixMatch mask rate"
        xLabel="epoch"
        yLabel="mask rate (fraction, 0–1)"
        yDomain={[0, 1]}
        testId="mask-rate-curve"
        series={[...mask].map(([name, points]) => ({ name, points }))}
      />
    </div>
  );
}
