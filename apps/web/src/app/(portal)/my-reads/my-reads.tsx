"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { FilterBar } from "@/components/filter-bar";
import { useTRPC } from "@/trpc/client";

type Gate = "normal" | "abnormal";
type FindingValue = "positive" | "negative" | "uncertain";
interface DatasetInfo {
  id: string;
  name: string;
  findings: { key: string; name: string }[];
}

const PAGE = 25;
const VALUE_LABEL: Record<FindingValue, string> = { positive: "Yes", negative: "No", uncertain: "?" };

function Editor({
  findings,
  initial,
  onSave,
  onCancel,
  saving,
}: {
  findings: DatasetInfo["findings"];
  initial: { gate: Gate; findings: Record<string, FindingValue> };
  onSave: (gate: Gate, findings: Record<string, FindingValue>) => void;
  onCancel: () => void;
  saving: boolean;
}) {
  const [gate, setGate] = useState<Gate>(initial.gate);
  const [values, setValues] = useState<Record<string, FindingValue>>(initial.findings);
  return (
    <div className="mr-editor" data-testid="read-editor">
      <div className="rw-gate">
        {(["normal", "abnormal"] as const).map((g) => (
          <button key={g} type="button" aria-pressed={gate === g} onClick={() => setGate(g)}>
            {g === "normal" ? "Normal" : "Abnormal"}
          </button>
        ))}
      </div>
      {gate === "abnormal"
        ? findings.map((f) => (
            <div className="rw-finding" key={f.key}>
              <span className="rw-finding-name">{f.name}</span>
              <span className="rw-finding-values">
                {(["positive", "negative", "uncertain"] as const).map((v) => (
                  <button
                    key={v}
                    type="button"
                    className={`rw-v rw-v-${v}`}
                    aria-pressed={(values[f.key] ?? "negative") === v}
                    onClick={() => setValues((cur) => ({ ...cur, [f.key]: v }))}
                  >
                    {VALUE_LABEL[v]}
                  </button>
                ))}
              </span>
            </div>
          ))
        : null}
      <div className="rw-actions">
        <button
          type="button"
          className="primary"
          disabled={saving}
          onClick={() => {
            const out: Record<string, FindingValue> = {};
            if (gate === "abnormal") for (const f of findings) out[f.key] = values[f.key] ?? "negative";
            onSave(gate, out);
          }}
        >
          Save change
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** The annotator's history: filters, and a change (or flag) until a lead adjudicates the image. */
export function MyReads({ datasets }: { datasets: DatasetInfo[] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [datasetId, setDatasetId] = useState<string>("");
  const [kind, setKind] = useState<"" | "read" | "skip">("");
  const [gate, setGate] = useState<"" | Gate>("");
  const [flagged, setFlagged] = useState<"" | "yes" | "no">("");
  const [adjudicated, setAdjudicated] = useState<"" | "yes" | "no">("");
  const [page, setPage] = useState(0);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const input = {
    datasetId: datasetId || undefined,
    kind: kind || undefined,
    gate: gate || undefined,
    flagged: flagged ? flagged === "yes" : undefined,
    adjudicated: adjudicated ? adjudicated === "yes" : undefined,
    limit: PAGE,
    offset: page * PAGE,
  };
  const reads = useQuery(trpc.reads.mine.queryOptions(input));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.reads.mine.queryKey() });
  const onError = (err: unknown) => setError(err instanceof Error ? err.message : "failed");
  const change = useMutation(
    trpc.reads.change.mutationOptions({
      onSuccess: () => {
        setEditing(null);
        setError(null);
        void refresh();
      },
      onError,
    }),
  );
  const flag = useMutation(trpc.reads.flag.mutationOptions({ onSuccess: () => void refresh(), onError }));
  const findingsOf = (id: string) => datasets.find((d) => d.id === id)?.findings ?? [];
  const nameOf = (dsId: string, key: string) => findingsOf(dsId).find((f) => f.key === key)?.name ?? key;
  const total = reads.data?.total ?? 0;

  /** A filter's change: the value when it is one of `options` (else the first), back to page 1. */
  const choose =
    <T extends string>(options: readonly [T, ...T[]], setter: (v: T) => void) =>
    (value: string) => {
      setter(options.find((o) => o === value) ?? options[0]);
      setPage(0);
    };

  return (
    <div className="stack">
      <h1>My reads</h1>
      <FilterBar
        className="card mr-filters"
        filters={[
          ...(datasets.length > 1
            ? [
                {
                  name: "dataset",
                  label: "Dataset",
                  value: datasetId,
                  onChange: choose(["", ...datasets.map((d) => d.id)] as const, setDatasetId),
                  options: [
                    { value: "", label: "All" },
                    ...datasets.map((d) => ({ value: d.id, label: d.name })),
                  ],
                },
              ]
            : []),
          {
            name: "kind",
            label: "Kind",
            value: kind,
            onChange: choose(["", "read", "skip"] as const, setKind),
            options: [
              { value: "", label: "Reads and skips" },
              { value: "read", label: "Reads" },
              { value: "skip", label: "Skips" },
            ],
            testId: "filter-kind",
          },
          {
            name: "gate",
            label: "Label",
            value: gate,
            onChange: choose(["", "normal", "abnormal"] as const, setGate),
            options: [
              { value: "", label: "Any" },
              { value: "normal", label: "Normal" },
              { value: "abnormal", label: "Abnormal" },
            ],
            testId: "filter-gate",
          },
          {
            name: "flagged",
            label: "Flagged",
            value: flagged,
            onChange: choose(["", "yes", "no"] as const, setFlagged),
            options: [
              { value: "", label: "Any" },
              { value: "yes", label: "Flagged" },
              { value: "no", label: "Not flagged" },
            ],
          },
          {
            name: "adjudicated",
            label: "Adjudicated",
            value: adjudicated,
            onChange: choose(["", "yes", "no"] as const, setAdjudicated),
            options: [
              { value: "", label: "Any" },
              { value: "yes", label: "Adjudicated" },
              { value: "no", label: "Open" },
            ],
          },
        ]}
      >
        <span className="muted" data-testid="my-reads-total">
          {total} {total === 1 ? "read" : "reads"}
        </span>
      </FilterBar>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <table className="mr-table">
        <thead>
          <tr>
            <th scope="col">Image</th>
            <th scope="col">Label</th>
            <th scope="col">Findings</th>
            <th scope="col">Time</th>
            <th scope="col">When</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(reads.data?.items ?? []).map((r) => (
            <tr key={r.id} data-testid="my-read" data-image-id={r.imageId}>
              <td>
                <a href={`/images/${r.imageId}`}>
                  <img src={`/api/images/${r.imageId}/thumb`} alt="" width={48} height={48} />
                </a>
                <span className="mr-file">{r.originalFilename}</span>
              </td>
              <td>
                {r.kind === "skip" ? `Skipped: ${r.skipReason ?? ""}` : r.gate}
                {r.flagged ? <span className="mr-flag"> ⚑ flagged</span> : null}
                {r.adjudicated ? <span className="muted"> (adjudicated)</span> : null}
              </td>
              <td>
                {Object.entries(r.findings)
                  .filter(([, v]) => v !== "negative")
                  .map(([k, v]) => `${nameOf(r.datasetId, k)}: ${VALUE_LABEL[v]}`)
                  .join(", ") || "—"}
              </td>
              <td>{(r.timeSpentMs / 1000).toFixed(1)} s</td>
              <td>{r.createdAt.toLocaleString()}</td>
              <td>
                {editing === r.id ? (
                  <Editor
                    findings={findingsOf(r.datasetId)}
                    initial={{ gate: r.gate ?? "normal", findings: r.findings }}
                    saving={change.isPending}
                    onCancel={() => setEditing(null)}
                    onSave={(g, f) => change.mutate({ imageId: r.imageId, gate: g, findings: f })}
                  />
                ) : (
                  <div className="rw-actions">
                    <button type="button" disabled={!r.canChange} onClick={() => setEditing(r.id)}>
                      Change
                    </button>
                    <button
                      type="button"
                      onClick={() => flag.mutate({ imageId: r.imageId, flagged: !r.flagged })}
                      disabled={flag.isPending}
                    >
                      {r.flagged ? "Unflag" : "Flag for lead"}
                    </button>
                  </div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {reads.isLoading ? <p className="muted">Loading…</p> : null}
      {!reads.isLoading && total === 0 ? <p className="muted">No reads match.</p> : null}
      <div className="rw-actions mr-pages">
        <button type="button" disabled={page === 0} onClick={() => setPage((p) => p - 1)}>
          Previous
        </button>
        <span className="muted">
          Page {page + 1} of {Math.max(1, Math.ceil(total / PAGE))}
        </span>
        <button type="button" disabled={(page + 1) * PAGE >= total} onClick={() => setPage((p) => p + 1)}>
          Next
        </button>
      </div>
    </div>
  );
}
