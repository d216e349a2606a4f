"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useTRPC } from "@/trpc/client";
import { RoundCurves } from "../../_shared/round-curves";

const LIVE = new Set(["queued", "running", "cancelling"]);

function eta(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return "—";
  if (s < 90) return `${Math.round(s)} s`;
  return `${Math.round(s / 60)} min`;
}

/** A round's live progress, polled every 1.5 s while it runs, with its loss and mask-rate curves. */
export function RoundView({ id, canCancel }: { id: string; canCancel: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const round = useQuery({
    ...trpc.rounds.get.queryOptions({ id }),
    refetchInterval: (q) => (q.state.data && !LIVE.has(q.state.data.status) ? false : 1500),
    staleTime: 0,
  });
  const cancel = useMutation(
    trpc.rounds.cancel.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.rounds.get.queryKey({ id }) }),
    }),
  );
  if (round.error) return <p className="form-error">{round.error.message}</p>;
  if (!round.data) return <p className="muted">Loading…</p>;
  const r = round.data;
  const p = r.progress;
  const fraction =
    p.stageIndex !== undefined && p.stageCount
      ? (p.stageIndex + (p.epoch && p.epochs ? p.epoch / p.epochs : 0)) / p.stageCount
      : r.status === "succeeded"
        ? 1
        : 0;
  return (
    <>
      <h1>
        Round <span data-testid="round-status">{r.status}</span>
      </h1>
      <section className="card">
        <progress className="progress" max={1} value={Math.min(Math.max(fraction, 0), 1)} />
        <dl className="stats">
          <div>
            <dt>Stage</dt>
            <dd data-testid="round-stage">
              {p.stage}
              {p.stageIndex !== undefined && p.stageCount ? ` (${p.stageIndex + 1}/${p.stageCount})` : ""}
            </dd>
          </div>
          <div>
            <dt>Epoch</dt>
            <dd data-testid="round-epoch">{p.epoch !== undefined ? `${p.epoch}/${p.epochs ?? "?"}` : "—"}</dd>
          </div>
          <div>
            <dt>Step</dt>
            <dd>{p.step !== undefined ? `${p.step}/${p.steps ?? "?"}` : "—"}</dd>
          </div>
          <div>
            <dt>Losses</dt>
            <dd>
              {p.losses
                ? Object.entries(p.losses)
                    .map(([k, v]) => `${k} ${v.toFixed(4)}`)
                    .join(" · ")
                : "—"}
            </dd>
          </div>
          <div>
            <dt>Mask rate</dt>
            <dd>{p.maskRate !== undefined ? `${(p.maskRate * 100).toFixed(1)} %` : "—"}</dd>
          </div>
          <div>
            <dt>ETA</dt>
            <dd>{LIVE.has(r.status) ? eta(p.etaSeconds) : "—"}</dd>
          </div>
        </dl>
        {p.message && <p className="muted">{p.message}</p>}
        {r.error && <p className="form-error">{r.error}</p>}
        {canCancel && (r.status === "queued" || r.status === "running") && (
          <button type="button" onClick={() => cancel.mutate({ id })} disabled={cancel.isPending}>
            Cancel round
          </button>
        )}
        {cancel.error && <p className="form-error">{cancel.error.message}</p>}
        {r.versionId && (
          <p>
            <Link href={`/research/versions/${r.versionId}`} data-testid="round-version-link">
              See the version this round saved
            </Link>
          </p>
        )}
      </section>
      <RoundCurves series={r.series} />
      <details className="card">
        <summary>Config</summary>
        <pre>{JSON.stringify(r.config, null, 2)}</pre>
      </details>
    </>
  );
}
