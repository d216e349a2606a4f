import type { Metadata } from "next";
import Link from "next/link";
import { requireAction } from "@/server/guard";
import { pageId } from "@/server/page-id";
import { withApi } from "@/server/trpc";

export const metadata: Metadata = { title: "Import report" };

export default async function ImportReportPage({ params }: { params: Promise<{ id: string }> }) {
  await requireAction("imports.run");
  const id = await pageId(params, "id");
  const run = await withApi((api) => api.imports.get({ id }));
  return (
    <>
      <p className="crumbs">
        <Link href="/admin/imports">Imports</Link> / report
      </p>
      <h1>Import into {run.datasetName}</h1>
      <section className="card">
        <dl className="stats">
          <div>
            <dt>Status</dt>
            <dd>{run.status}</dd>
          </div>
          <div>
            <dt>Files</dt>
            <dd>{run.totals.files}</dd>
          </div>
          <div>
            <dt>Imported</dt>
            <dd data-testid="report-imported">{run.totals.imported}</dd>
          </div>
          <div>
            <dt>Duplicates</dt>
            <dd>{run.totals.duplicates}</dd>
          </div>
          <div>
            <dt>Refused</dt>
            <dd>{run.totals.refused}</dd>
          </div>
        </dl>
        <p className="muted">
          {run.source} · started {run.startedAt.toISOString().replace("T", " ").slice(0, 19)} UTC
          {run.startedBy ? ` by ${run.startedBy}` : ""}
        </p>
      </section>
      <section className="card">
        <h2>Refused files</h2>
        {run.refusals.length === 0 ? (
          <p className="muted">None.</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th>File</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {run.refusals.map((r) => (
                <tr key={`${r.path}:${r.reason}`}>
                  <td className="wrap">{r.path}</td>
                  <td>{r.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
