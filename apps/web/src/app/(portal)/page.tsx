import Link from "next/link";
import { withApi } from "@/server/trpc";

export default async function HomePage() {
  const datasets = await withApi((api) => api.datasets.list());
  return (
    <>
      <h1>Datasets</h1>
      {datasets.length === 0 ? (
        <p className="empty">No datasets yet. An administrator can import X-rays under Admin → Imports.</p>
      ) : (
        <ul className="dataset-grid">
          {datasets.map((d) => (
            <li key={d.id} className="card dataset-card" data-testid="dataset-card">
              <h2>
                <Link href={`/images?dataset=${d.id}`}>{d.name}</Link>
              </h2>
              {d.description && <p className="muted">{d.description}</p>}
              <dl className="stats">
                <div>
                  <dt>Images</dt>
                  <dd data-testid="dataset-image-count">{d.images.toLocaleString("en")}</dd>
                </div>
                <div>
                  <dt>Labelled</dt>
                  <dd>{d.labelled.toLocaleString("en")}</dd>
                </div>
                <div>
                  <dt>Train / val / test</dt>
                  <dd>
                    {d.splits.train} / {d.splits.val} / {d.splits.test}
                  </dd>
                </div>
                <div>
                  <dt>Findings</dt>
                  <dd>{d.labelSchema.findings.length}</dd>
                </div>
                <div>
                  <dt>Reading</dt>
                  <dd>
                    {d.readingMode}, {d.readsPerImage} read{d.readsPerImage === 1 ? "" : "s"} per image
                  </dd>
                </div>
              </dl>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
