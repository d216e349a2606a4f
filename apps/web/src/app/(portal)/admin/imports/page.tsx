import type { Metadata } from "next";
import Link from "next/link";
import { requireAction } from "@/server/guard";
import { withApi } from "@/server/trpc";
import { ImportUpload } from "./import-upload";

export const metadata: Metadata = { title: "Imports" };

export default async function ImportsPage() {
  await requireAction("imports.run");
  const [datasets, runs] = await withApi((api) => Promise.all([api.datasets.list(), api.imports.list({})]));
  return (
    <>
      <h1>Imports</h1>
      <ImportUpload datasets={datasets.map((d) => ({ id: d.id, name: d.name }))} />
      <section className="card">
        <h2>Recent imports</h2>
        {runs.length === 0 ? (
          <p className="muted">No imports yet.</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th>Started</th>
                <th>Dataset</th>
                <th>Source</th>
                <th>Status</th>
                <th className="num">Imported</th>
                <th className="num">Duplicates</th>
                <th className="num">Refused</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => (
                <tr key={r.id} data-testid="import-row">
                  <td>
                    <Link href={`/admin/imports/${r.id}`}>
                      {r.startedAt.toISOString().slice(0, 16).replace("T", " ")}
                    </Link>
                  </td>
                  <td>{r.datasetName}</td>
                  <td className="wrap">{r.source}</td>
                  <td>{r.status}</td>
                  <td className="num">{r.totals.imported}</td>
                  <td className="num">{r.totals.duplicates}</td>
                  <td className="num">{r.totals.refused}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
