"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { useTRPC } from "@/trpc/client";
import { ReviewViewer } from "./review-viewer";

type Finding = "positive" | "negative" | "uncertain";
const FINDINGS: Finding[] = ["positive", "negative", "uncertain"];
const isFinding = (v: unknown): v is Finding => typeof v === "string" && (FINDINGS as string[]).includes(v);

/** All reads of one image side by side with the model's output, and the gold-label form. */
export function ReviewItem({ imageId, backHref }: { imageId: string; backHref: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const item = useQuery(trpc.review.item.queryOptions({ imageId }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.review.pathKey() });
  const adjudicate = useMutation(trpc.review.adjudicate.mutationOptions({ onSuccess: refresh }));
  const revert = useMutation(trpc.review.revert.mutationOptions({ onSuccess: refresh }));
  const [revertReason, setRevertReason] = useState("");

  if (item.error) return <p className="form-error">{item.error.message}</p>;
  if (!item.data) return <p className="muted">Loading…</p>;
  const { image, labelSchema, reads, model, gold, goldHistory } = item.data;
  const readRows = reads.filter((r) => r.kind === "read");
  const gateKey = labelSchema.gate.key;
  const heads = [
    { key: gateKey, name: labelSchema.gate.name },
    ...labelSchema.findings.map((f) => ({ key: f.key, name: f.name })),
  ];
  const readValue = (r: (typeof reads)[number], head: string): string => {
    if (head === gateKey) return r.gate ?? "—";
    if (r.gate === "normal") return "negative";
    return r.findings[head] ?? "—";
  };
  const disagrees = (head: string) => new Set(readRows.map((r) => readValue(r, head))).size > 1;

  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const gate = data.get("gate") === "abnormal" ? "abnormal" : "normal";
    const findings: Record<string, Finding> = {};
    if (gate === "abnormal")
      for (const f of labelSchema.findings) {
        const v = data.get(`finding-${f.key}`);
        if (isFinding(v)) findings[f.key] = v;
      }
    adjudicate.mutate(
      { imageId, gate, findings, reason: String(data.get("reason") ?? "") },
      { onSuccess: () => router.push(backHref) },
    );
  };

  const initial = gold ?? readRows[0];
  return (
    <>
      <h1>{image.filename}</h1>
      <div className="review-layout">
        <section className="card">
          <ReviewViewer
            image={{ id: image.id, width: image.width, height: image.height }}
            heatmap={
              model
                ? {
                    versionId: model.versionId,
                    heads: Object.keys(model.heatmaps).map((key) => ({
                      key,
                      name: heads.find((h) => h.key === key)?.name ?? key,
                    })),
                  }
                : null
            }
          />
          <p className="muted">
            {image.width}×{image.height} px · {image.species ?? "?"} · {image.bodyPart ?? "?"} ·{" "}
            {image.view ?? "?"}
          </p>
          {model && (
            <>
              <h2>Model v{model.number}</h2>
              <table className="table" data-testid="model-probs">
                <thead>
                  <tr>
                    <th>Head</th>
                    <th>P(positive)</th>
                  </tr>
                </thead>
                <tbody>
                  {heads.map((h) => (
                    <tr key={h.key}>
                      <td>{h.name}</td>
                      <td>{model.probs[h.key]?.toFixed(3) ?? "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="muted">Uncertainty {model.uncertainty.toFixed(3)}</p>
            </>
          )}
        </section>
        <section className="stack">
          <div className="card">
            <h2>Reads ({readRows.length})</h2>
            <table className="table" data-testid="reads-table">
              <thead>
                <tr>
                  <th>Head</th>
                  {readRows.map((r) => (
                    <th key={r.id}>{r.annotator || r.email}</th>
                  ))}
                  {model && <th>Model</th>}
                </tr>
              </thead>
              <tbody>
                {heads.map((h) => (
                  <tr key={h.key} className={disagrees(h.key) ? "disagree" : undefined}>
                    <td>{h.name}</td>
                    {readRows.map((r) => (
                      <td key={r.id}>{readValue(r, h.key)}</td>
                    ))}
                    {model && <td>{model.probs[h.key]?.toFixed(2) ?? "—"}</td>}
                  </tr>
                ))}
                <tr>
                  <td>Flag</td>
                  {readRows.map((r) => (
                    <td key={r.id}>{r.flagged ? `⚑ ${r.flagReason ?? ""}` : ""}</td>
                  ))}
                  {model && <td />}
                </tr>
              </tbody>
            </table>
          </div>
          <form className="card schema-form" onSubmit={onSubmit} aria-label="Gold label">
            <h2>{gold ? "Gold label (change it)" : "Settle: gold label"}</h2>
            <label>
              {labelSchema.gate.name}
              <select name="gate" defaultValue={initial?.gate ?? "normal"}>
                <option value="normal">normal</option>
                <option value="abnormal">abnormal</option>
              </select>
            </label>
            {labelSchema.findings.map((f) => (
              <label key={f.key}>
                {f.name}
                <select name={`finding-${f.key}`} defaultValue={initial?.findings[f.key] ?? "negative"}>
                  {FINDINGS.map((v) => (
                    <option key={v} value={v}>
                      {v}
                    </option>
                  ))}
                </select>
              </label>
            ))}
            <label>
              Reason
              <input name="reason" type="text" maxLength={2000} placeholder="why this label" />
            </label>
            <button type="submit" className="primary" disabled={adjudicate.isPending}>
              Save gold label
            </button>
            {adjudicate.error && <p className="form-error">{adjudicate.error.message}</p>}
          </form>
          {gold && (
            <div className="card">
              <h2>Current gold</h2>
              <p data-testid="gold-current">
                {gold.gate}
                {Object.entries(gold.findings)
                  .map(([k, v]) => ` · ${k}: ${v}`)
                  .join("")}
                {gold.reason ? ` — “${gold.reason}”` : ""}
              </p>
              <div className="inline-form">
                <input
                  value={revertReason}
                  onChange={(e) => setRevertReason(e.target.value)}
                  placeholder="reason to withdraw"
                  aria-label="Reason to withdraw the gold label"
                />
                <button
                  type="button"
                  disabled={!revertReason.trim() || revert.isPending}
                  onClick={() => revert.mutate({ imageId, reason: revertReason })}
                >
                  Withdraw gold label
                </button>
              </div>
              {revert.error && <p className="form-error">{revert.error.message}</p>}
            </div>
          )}
          {goldHistory.length > 0 && (
            <div className="card">
              <h2>Gold history</h2>
              <ul>
                {goldHistory.map((g) => (
                  <li key={g.id}>
                    {new Date(g.createdAt).toLocaleString()}: {g.gate}
                    {g.reason ? ` — ${g.reason}` : ""}
                    {g.revokedReason
                      ? ` (withdrawn: ${g.revokedReason})`
                      : g.supersededAt
                        ? " (superseded)"
                        : ""}
                  </li>
                ))}
              </ul>
            </div>
          )}
        </section>
      </div>
    </>
  );
}
