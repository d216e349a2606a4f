"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { useTRPC } from "@/trpc/client";

type Kind = "readers" | "model" | "flagged";
const KINDS: { kind: Kind; label: string }[] = [
  { kind: "readers", label: "Reader vs reader" },
  { kind: "model", label: "Reader vs model" },
  { kind: "flagged", label: "Flagged" },
];

export function ReviewQueue({ datasetId, kind }: { datasetId: string; kind: Kind }) {
  const trpc = useTRPC();
  const [threshold, setThreshold] = useState(0.9);
  const queue = useQuery(
    trpc.review.queue.queryOptions({
      datasetId,
      kind,
      ...(kind === "model" ? { threshold } : {}),
      limit: 100,
    }),
  );
  return (
    <section className="card">
      <nav className="tabs" aria-label="Review queues">
        {KINDS.map((k) => (
          <Link
            key={k.kind}
            href={`/review?dataset=${datasetId}&kind=${k.kind}`}
            aria-current={k.kind === kind ? "page" : undefined}
          >
            {k.label}
          </Link>
        ))}
      </nav>
      {kind === "model" && (
        <label className="inline-form">
          Model confident at p ≥
          <input
            type="number"
            min={0.5}
            max={1}
            step={0.01}
            value={threshold}
            onChange={(e) => {
              const v = Number(e.target.value);
              if (v >= 0.5 && v <= 1) setThreshold(v);
            }}
          />
          (or ≤ {(1 - threshold).toFixed(2)})
        </label>
      )}
      {queue.error && <p className="form-error">{queue.error.message}</p>}
      {queue.data && (
        <>
          <p className="muted" data-testid="review-total">
            {queue.data.total} image{queue.data.total === 1 ? "" : "s"} to settle
            {kind === "model" && !queue.data.versionId ? " (no active model version)" : ""}
          </p>
          <table className="table" data-testid="review-queue">
            <thead>
              <tr>
                <th>Image</th>
                <th>Reads</th>
                <th>{kind === "flagged" ? "Flags" : "Heads in disagreement"}</th>
                {kind === "model" && <th>Model confidence</th>}
                <th>Last activity</th>
              </tr>
            </thead>
            <tbody>
              {queue.data.items.map((item) => (
                <tr key={item.imageId}>
                  <td>
                    <Link href={`/review/${item.imageId}?dataset=${datasetId}&kind=${kind}`}>
                      {item.filename}
                    </Link>
                  </td>
                  <td>{item.reads}</td>
                  <td>
                    {kind === "flagged"
                      ? `${item.flags}: ${item.flagReasons.join("; ")}`
                      : item.heads.join(", ")}
                  </td>
                  {kind === "model" && <td>{item.confidence?.toFixed(3) ?? "—"}</td>}
                  <td>{new Date(item.lastActivity).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
