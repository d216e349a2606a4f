"use client";

import { useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

export interface XYSeries {
  name: string;
  points: { x: number; y: number | null }[];
  /** Draw points only (reliability diagram bins), or a dashed reference line. */
  style?: "line" | "dots" | "reference";
}

export interface XYChartProps {
  title: string;
  xLabel: string;
  yLabel: string;
  series: XYSeries[];
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Decimals in the table view. */
  digits?: number;
  testId?: string;
}

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

const colorOf = (i: number) => COLORS[i % COLORS.length] ?? "#2563eb";

const fmt = (v: number | null, digits: number) => (v === null ? "—" : v.toFixed(digits));

/**
 * A line/scatter chart with axis labels (units in the label text) and a table view of the same
 * numbers, one toggle away: every chart on the console is one of these.
 */
export function XYChart({
  title,
  xLabel,
  yLabel,
  series,
  xDomain,
  yDomain,
  digits = 3,
  testId,
}: XYChartProps) {
  const [asTable, setAsTable] = useState(false);
  const empty = series.every((s) => s.points.length === 0);
  return (
    <figure className="chart card" data-testid={testId}>
      <figcaption className="chart-head">
        <strong>{title}</strong>
        <button type="button" className="link-button" onClick={() => setAsTable((t) => !t)}>
          {asTable ? "Show chart" : "Show table"}
        </button>
      </figcaption>
      {empty ? (
        <p className="muted">No data yet.</p>
      ) : asTable ? (
        <div className="chart-table">
          {series.map((s) => (
            <table key={s.name} className="table">
              <caption>{s.name}</caption>
              <thead>
                <tr>
                  <th scope="col">{xLabel}</th>
                  <th scope="col">{yLabel}</th>
                </tr>
              </thead>
              <tbody>
                {s.points.map((p, i) => (
                  <tr key={i}>
                    <td>{fmt(p.x, digits)}</td>
                    <td>{fmt(p.y, digits)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ))}
        </div>
      ) : (
        <ResponsiveContainer width="100%" height={280}>
          <LineChart margin={{ top: 8, right: 16, bottom: 28, left: 24 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis
              type="number"
              dataKey="x"
              domain={xDomain ?? ["auto", "auto"]}
              label={{ value: xLabel, position: "insideBottom", offset: -16 }}
              tickFormatter={(v: number) => String(Math.round(v * 1000) / 1000)}
            />
            <YAxis
              type="number"
              domain={yDomain ?? ["auto", "auto"]}
              label={{
                value: yLabel,
                angle: -90,
                position: "left",
                offset: 8,
                style: { textAnchor: "middle" },
              }}
              tickFormatter={(v: number) => String(Math.round(v * 1000) / 1000)}
            />
            <Tooltip />
            <Legend verticalAlign="top" />
            {series.map((s, i) => (
              <Line
                key={s.name}
                name={s.name}
                data={s.points}
                dataKey="y"
                type="linear"
                stroke={s.style === "reference" ? "#9ca3af" : colorOf(i)}
                strokeDasharray={s.style === "reference" ? "4 4" : undefined}
                strokeWidth={s.style === "dots" ? 0 : 2}
                dot={s.style === "dots" ? { r: 4, fill: colorOf(i), stroke: colorOf(i) } : false}
                isAnimationActive={false}
                connectNulls={false}
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      )}
    </figure>
  );
}
