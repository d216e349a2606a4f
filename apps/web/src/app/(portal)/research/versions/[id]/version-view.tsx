"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { XYChart } from "@/components/charts/xy-chart";
import { useTRPC } from "@/trpc/client";
import { headMetrics } from "../../_shared/metrics";
import { RoundCurves } from "../../_shared/round-curves";

const f3 = (v: number | null) => (v === null ? "—" : v.toFixed(3));

/** One version: lineage, the per-finding metrics table with CIs, ROC, reliability, training curves. */
export function VersionView({
  id,
  canPromote,
  canExport,
}: {
  id: string;
  canPromote: boolean;
  canExport: boolean;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const version = useQuery(trpc.versions.get.queryOptions({ id }));
  const roundId = version.data?.roundId ?? null;
  const round = useQuery({
    ...trpc.rounds.get.queryOptions({ id: roundId ?? "" }),
    enabled: roundId !== null,
  });
  const promote = useMutation(
    trpc.versions.promote.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.versions.pathKey() }),
    }),
  );
  if (version.error) return <p className="form-error">{version.error.message}</p>;
  if (!version.data) return <p className="muted">Loading…</p>;
  const v = version.data;
  const heads = Object.entries(headMetrics(v.metrics));
  return (
    <>
      <div className="page-head">
        <h1>
          Model v{v.number} {v.isActive && <span className="tag">active</span>}
        </h1>
        <div className="inline-form">
          {canExport && (
            <a href={`/api/export/model/${v.id}`} download>
              Download model (TF.js manifest)
            </a>
          )}
          {canPromote && !v.isActive && (
            <button type="button" className="primary" onClick={() => promote.mutate({ id: v.id })}>
              Promote v{v.number}
            </button>
          )}
        </div>
      </div>
      {promote.data && (
        <p className="form-ok" data-testid="promoted">
          v{promote.data.version.number} is active; queue re-ranked ({promote.data.ranking.ranked} images).
        </p>
      )}
      {promote.error && <p className="form-error">{promote.error.message}</p>}
      <section className="card">
        <h2>Lineage</h2>
        <dl className="meta-list">
          <dt>Created</dt>
          <dd>{new Date(v.createdAt).toLocaleString()}</dd>
          <dt>Labels used</dt>
          <dd>
            {v.labelSnapshot.count} (hash {v.labelSnapshot.hash.slice(0, 12)})
          </dd>
          <dt>Parent version</dt>
          <dd>{v.parentVersionId ?? "—"}</dd>
          <dt>Encoder from</dt>
          <dd>{v.encoderFromVersionId ?? "its own round"}</dd>
          <dt>Code revision</dt>
          <dd>{v.codeRevision}</dd>
        </dl>
      </section>
      <section className="card">
        <h2>Per-finding metrics (held-out split)</h2>
        <table className="table" data-testid="metrics-table">
          <thead>
            <tr>
              <th>Head</th>
              <th>n (pos/neg)</th>
              <th>AUROC [CI]</th>
              <th>AUPRC (prevalence)</th>
              <th>Sens / spec @ threshold</th>
              <th>Sens / spec @ Youden</th>
              <th>ECE</th>
              <th>Brier</th>
            </tr>
          </thead>
          <tbody>
            {heads.map(([head, m]) => (
              <tr key={head}>
                <td>{head}</td>
                <td>
                  {m.n ?? "—"} ({m.positives ?? "?"}/{m.negatives ?? "?"})
                </td>
                <td>
                  {f3(m.auroc.value)} [{f3(m.auroc.lower)}, {f3(m.auroc.upper)}]
                  {m.auroc.level !== null ? ` ${Math.round(m.auroc.level * 100)}%` : ""}
                </td>
                <td>
                  {f3(m.auprc)} ({f3(m.prevalence)})
                </td>
                <td>
                  {f3(m.sensitivity)} / {f3(m.specificity)} @ {f3(m.threshold)}
                </td>
                <td>
                  {m.youden
                    ? `${f3(m.youden.sensitivity)} / ${f3(m.youden.specificity)} @ ${f3(m.youden.threshold)}`
                    : "—"}
                </td>
                <td>{f3(m.ece)}</td>
                <td>{f3(m.brier)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <div className="chart-grid">
        <XYChart
          title="ROC curves per head"
          xLabel="false-positive rate (1 − specificity)"
          yLabel="true-positive rate (sensitivity)"
          xDomain={[0, 1]}
          yDomain={[0, 1]}
          testId="roc-chart"
          series={[
            ...heads.map(([head, m]) => ({ name: head, points: m.roc.map((p) => ({ x: p.fpr, y: p.tpr })) })),
            {
              name: "chance",
              style: "reference" as const,
              points: [
                { x: 0, y: 0 },
                { x: 1, y: 1 },
              ],
            },
          ]}
        />
        <XYChart
          title="Reliability diagram"
          xLabel="mean predicted probability (per bin)"
          yLabel="observed frequency of positives"
          xDomain={[0, 1]}
          yDomain={[0, 1]}
          testId="reliability-chart"
          series={[
            ...heads.map(([head, m]) => ({
              name: head,
              style: "dots" as const,
              points: m.bins
                .filter((b) => b.count > 0 && b.confidence !== null)
                .map((b) => ({ x: b.confidence ?? 0, y: b.accuracy })),
            })),
            {
              name: "perfect calibration",
              style: "reference" as const,
              points: [
                { x: 0, y: 0 },
                { x: 1, y: 1 },
              ],
            },
          ]}
        />
      </div>
      {round.data && (
        <>
          <h2>Training curves (round)</h2>
          <RoundCurves series={round.data.series} />
        </>
      )}
      <details className="card">
        <summary>Config</summary>
        <pre>{JSON.stringify(v.config, null, 2)}</pre>
      </details>
    </>
  );
}
