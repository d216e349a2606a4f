"use client";

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { XYChart } from "@/components/charts/xy-chart";
import { useTRPC } from "@/trpc/client";

const f3 = (v: number | null) => (v === null ? "—" : v.toFixed(3));

/** Cohen's kappa per pair, Fleiss' kappa per finding, each annotator against gold, and per week. */
export function AgreementView({ datasetId }: { datasetId: string }) {
  const trpc = useTRPC();
  const stats = useQuery(trpc.review.agreement.queryOptions({ datasetId }));
  const [head, setHead] = useState<string | null>(null);
  if (stats.error) return <p className="form-error">{stats.error.message}</p>;
  if (!stats.data) return <p className="muted">Loading…</p>;
  const s = stats.data;
  const who = new Map(s.annotators.map((a) => [a.userId, a.name || a.email]));
  const name = (id: string) => who.get(id) ?? id.slice(0, 8);
  const shownHead = head ?? s.heads[0] ?? "";
  const weekly = (metric: "sensitivity" | "specificity") =>
    s.annotators.map((a) => ({
      name: name(a.userId),
      points: s.weekly.map((w, i) => ({
        x: i + 1,
        y: w.vsGold.find((v) => v.userId === a.userId && v.head === shownHead)?.[metric] ?? null,
      })),
    }));
  return (
    <div className="stack">
      <section className="card">
        <h2>Fleiss' kappa per finding</h2>
        <table className="table" data-testid="fleiss-table">
          <thead>
            <tr>
              <th>Head</th>
              <th>Reads per image</th>
              <th>Images</th>
              <th>κ</th>
            </tr>
          </thead>
          <tbody>
            {s.fleiss.map((f) => (
              <tr key={`${f.head}-${f.raters}`}>
                <td>{f.head}</td>
                <td>{f.raters}</td>
                <td>{f.items}</td>
                <td>{f3(f.kappa)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card">
        <h2>Cohen's kappa per pair of annotators</h2>
        <table className="table" data-testid="cohen-table">
          <thead>
            <tr>
              <th>Head</th>
              <th>Annotator A</th>
              <th>Annotator B</th>
              <th>Images</th>
              <th>Observed agreement</th>
              <th>κ</th>
            </tr>
          </thead>
          <tbody>
            {s.cohen.map((c) => (
              <tr key={`${c.head}-${c.userA}-${c.userB}`}>
                <td>{c.head}</td>
                <td>{name(c.userA)}</td>
                <td>{name(c.userB)}</td>
                <td>{c.n}</td>
                <td>{f3(c.observedAgreement)}</td>
                <td>{f3(c.kappa)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card">
        <h2>Each annotator against gold</h2>
        <table className="table" data-testid="vsgold-table">
          <thead>
            <tr>
              <th>Annotator</th>
              <th>Head</th>
              <th>TP</th>
              <th>FP</th>
              <th>TN</th>
              <th>FN</th>
              <th>Uncertain</th>
              <th>Sensitivity</th>
              <th>Specificity</th>
            </tr>
          </thead>
          <tbody>
            {s.vsGold.map((v) => (
              <tr key={`${v.userId}-${v.head}`}>
                <td>{name(v.userId)}</td>
                <td>{v.head}</td>
                <td>{v.tp}</td>
                <td>{v.fp}</td>
                <td>{v.tn}</td>
                <td>{v.fn}</td>
                <td>{v.uncertain}</td>
                <td>{f3(v.sensitivity)}</td>
                <td>{f3(v.specificity)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card">
        <h2>Over time</h2>
        <label className="inline-form">
          Head
          <select value={shownHead} onChange={(e) => setHead(e.target.value)}>
            {s.heads.map((h) => (
              <option key={h} value={h}>
                {h}
              </option>
            ))}
          </select>
        </label>
        <p className="muted">
          Weeks:{" "}
          {s.weekly.map((w, i) => `${i + 1} = ${w.weekStart} (${w.reads} reads)`).join(" · ") || "none"}
        </p>
        <div className="chart-grid">
          <XYChart
            title={`Sensitivity vs gold: ${shownHead}`}
            xLabel="week (number, oldest = 1)"
            yLabel="sensitivity (0–1)"
            yDomain={[0, 1]}
            digits={3}
            series={weekly("sensitivity")}
          />
          <XYChart
            title={`Specificity vs gold: ${shownHead}`}
            xLabel="week (number, oldest = 1)"
            yLabel="specificity (0–1)"
            yDomain={[0, 1]}
            digits={3}
            series={weekly("specificity")}
          />
        </div>
      </section>
    </div>
  );
}
