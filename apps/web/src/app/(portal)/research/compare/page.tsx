import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { z } from "zod";
import { requireAction } from "@/server/guard";
import { withApi } from "@/server/trpc";

export const metadata: Metadata = { title: "Compare versions" };

const f3 = (v: number | null | undefined) => (v === null || v === undefined ? "—" : v.toFixed(3));
const signed = (v: number | null | undefined) =>
  v === null || v === undefined ? "—" : `${v >= 0 ? "+" : ""}${v.toFixed(3)}`;

export default async function ComparePage({
  searchParams,
}: {
  searchParams: Promise<{ a?: string; b?: string }>;
}) {
  await requireAction("metrics.read");
  const sp = z.object({ a: z.string().uuid(), b: z.string().uuid() }).safeParse(await searchParams);
  if (!sp.success) notFound();
  const c = await withApi((api) => api.versions.compare({ versionA: sp.data.a, versionB: sp.data.b }));
  const metrics = ["auroc", "auprc", "sensitivity", "specificity", "ece"] as const;
  return (
    <>
      <p className="crumbs">
        <Link href={`/research?dataset=${c.a.datasetId}`}>Research</Link> / compare
      </p>
      <h1>
        v{c.a.number} vs v{c.b.number}
      </h1>
      <section className="card">
        <p>
          Labels: {c.labels.a.count} → {c.labels.b.count} ({c.labels.added >= 0 ? "+" : ""}
          {c.labels.added}). Images both scored: {c.predictions.shared}.
        </p>
        <table className="table" data-testid="compare-table">
          <thead>
            <tr>
              <th>Head</th>
              {metrics.map((m) => (
                <th key={m} colSpan={3}>
                  {m}
                </th>
              ))}
              <th>Decisions changed</th>
            </tr>
            <tr>
              <th />
              {metrics.map((m) => [
                <th key={`${m}a`}>v{c.a.number}</th>,
                <th key={`${m}b`}>v{c.b.number}</th>,
                <th key={`${m}d`}>Δ</th>,
              ])}
              <th />
            </tr>
          </thead>
          <tbody>
            {c.heads.map((h) => (
              <tr key={h.head}>
                <td>{h.head}</td>
                {metrics.map((m) => [
                  <td key={`${m}a`}>{f3(h.a?.[m])}</td>,
                  <td key={`${m}b`}>{f3(h.b?.[m])}</td>,
                  <td key={`${m}d`}>{signed(h.delta[m])}</td>,
                ])}
                <td>{c.predictions.disagreements[h.head] ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}
