"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { XYChart } from "@/components/charts/xy-chart";
import { useTRPC } from "@/trpc/client";
import { aurocOf } from "./_shared/metrics";
import { StartRoundForm } from "./start-round-form";

const ACTIVE = new Set(["queued", "running", "cancelling"]);

export function ResearchConsole({
  datasetId,
  canStart,
  canPromote,
}: {
  datasetId: string;
  canStart: boolean;
  canPromote: boolean;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const rounds = useQuery({
    ...trpc.rounds.list.queryOptions({ datasetId, limit: 20 }),
    refetchInterval: (q) => (q.state.data?.some((r) => ACTIVE.has(r.status)) ? 2000 : false),
  });
  const versions = useQuery(trpc.versions.list.queryOptions({ datasetId }));
  const promote = useMutation(
    trpc.versions.promote.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.versions.pathKey() }),
    }),
  );
  const [a, setA] = useState("");
  const [b, setB] = useState("");
  const list = versions.data ?? [];
  const byId = new Map(list.map((v) => [v.id, v]));
  const heads = [...new Set(list.flatMap((v) => Object.keys(aurocOf(v.metrics))))];
  const ordered = [...list].sort((x, y) => x.labelSnapshot.count - y.labelSnapshot.count);
  return (
    <div className="stack">
      {canStart && (
        <StartRoundForm datasetId={datasetId} onStarted={(id) => router.push(`/research/rounds/${id}`)} />
      )}
      <section className="card">
        <h2>Rounds</h2>
        <table className="table" data-testid="rounds-table">
          <thead>
            <tr>
              <th>Started</th>
              <th>Status</th>
              <th>Stage</th>
              <th>Version</th>
            </tr>
          </thead>
          <tbody>
            {(rounds.data ?? []).map((r) => (
              <tr key={r.id}>
                <td>
                  <Link href={`/research/rounds/${r.id}`}>{new Date(r.createdAt).toLocaleString()}</Link>
                </td>
                <td>{r.status}</td>
                <td>{r.progress.stage}</td>
                <td>
                  {r.versionId ? (
                    <Link href={`/research/versions/${r.versionId}`}>
                      v{byId.get(r.versionId)?.number ?? "?"}
                    </Link>
                  ) : (
                    "—"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card">
        <h2>Versions</h2>
        {promote.error && <p className="form-error">{promote.error.message}</p>}
        {promote.data && (
          <p className="form-ok" data-testid="promoted">
            v{promote.data.version.number} is active; queue re-ranked ({promote.data.ranking.ranked} images,{" "}
            {promote.data.ranking.strategy}).
          </p>
        )}
        <table className="table" data-testid="versions-table">
          <thead>
            <tr>
              <th>Version</th>
              <th>Created</th>
              <th>Labels used</th>
              <th>Parent</th>
              <th>Encoder from</th>
              <th>Mean AUROC</th>
              <th>Active</th>
              {canPromote && <th />}
            </tr>
          </thead>
          <tbody>
            {list.map((v) => {
              const aurocs = Object.values(aurocOf(v.metrics)).filter((x): x is number => x !== null);
              const mean = aurocs.length ? aurocs.reduce((s, x) => s + x, 0) / aurocs.length : null;
              const parent = v.parentVersionId ? byId.get(v.parentVersionId) : undefined;
              const enc = v.encoderFromVersionId ? byId.get(v.encoderFromVersionId) : undefined;
              return (
                <tr key={v.id}>
                  <td>
                    <Link href={`/research/versions/${v.id}`}>v{v.number}</Link>
                  </td>
                  <td>{new Date(v.createdAt).toLocaleString()}</td>
                  <td>{v.labelSnapshot.count}</td>
                  <td>{parent ? `v${parent.number}` : "—"}</td>
                  <td>{enc ? `v${enc.number}` : "own"}</td>
                  <td>{mean === null ? "—" : mean.toFixed(3)}</td>
                  <td>{v.isActive ? "active" : ""}</td>
                  {canPromote && (
                    <td>
                      {!v.isActive && (
                        <button
                          type="button"
                          disabled={promote.isPending}
                          onClick={() => promote.mutate({ id: v.id })}
                        >
                          {list.some((o) => o.isActive && o.number > v.number) ? "Roll back to" : "Promote"} v
                          {v.number}
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
        {list.length >= 2 && (
          <form
            className="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (a && b && a !== b) router.push(`/research/compare?a=${a}&b=${b}`);
            }}
          >
            Compare
            <select aria-label="Version A" value={a} onChange={(e) => setA(e.target.value)}>
              <option value="">—</option>
              {list.map((v) => (
                <option key={v.id} value={v.id}>
                  v{v.number}
                </option>
              ))}
            </select>
            with
            <select aria-label="Version B" value={b} onChange={(e) => setB(e.target.value)}>
              <option value="">—</option>
              {list.map((v) => (
                <option key={v.id} value={v.id}>
                  v{v.number}
                </option>
              ))}
            </select>
            <button type="submit" disabled={!a || !b || a === b}>
              Compare
            </button>
          </form>
        )}
      </section>
      <XYChart
        title="Learning curve: AUROC against labels used, per head"
        xLabel="labels used (images)"
        yLabel="AUROC (0–1)"
        yDomain={[0, 1]}
        testId="learning-curve"
        series={heads.map((h) => ({
          name: h,
          points: ordered.map((v) => ({ x: v.labelSnapshot.count, y: aurocOf(v.metrics)[h] ?? null })),
        }))}
      />
    </div>
  );
}
