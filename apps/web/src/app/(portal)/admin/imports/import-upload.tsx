"use client";

import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";

interface Report {
  importId: string;
  totals: { files: number; imported: number; duplicates: number; refused: number };
  refused: { path: string; reason: string }[];
  duplicates: string[];
  labelled: number;
  seconds: number;
}

function isReport(v: unknown): v is Report {
  return typeof v === "object" && v !== null && "importId" in v && "totals" in v && "refused" in v;
}
function errorOf(v: unknown): string | null {
  return typeof v === "object" && v !== null && "error" in v && typeof v.error === "string" ? v.error : null;
}

/** fetch() cannot report upload progress; XMLHttpRequest can. Rejects only when the server is unreachable. */
function postWithProgress(
  url: string,
  body: FormData,
  onProgress: (fraction: number) => void,
): Promise<{ ok: boolean; status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.upload.onload = () => onProgress(1);
    xhr.onload = () => {
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(xhr.responseText);
      } catch {
        parsed = null;
      }
      resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, body: parsed });
    };
    xhr.onerror = () => reject(new Error("network error"));
    xhr.send(body);
  });
}

export function ImportUpload({ datasets }: { datasets: { id: string; name: string }[] }) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [report, setReport] = useState<Report | null>(null);
  /** Upload progress 0..1 (bytes sent); 1 while the server imports; null when idle. */
  const [progress, setProgress] = useState<number | null>(null);

  const onSubmit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setReport(null);
    try {
      setProgress(0);
      const res = await postWithProgress("/api/imports", new FormData(e.currentTarget), setProgress);
      const body: unknown = res.body;
      if (!res.ok || !isReport(body)) setError(errorOf(body) ?? `upload failed (HTTP ${res.status})`);
      else {
        setReport(body);
        router.refresh();
      }
    } catch {
      setError("the server could not be reached; nothing was imported from this upload");
    } finally {
      setBusy(false);
      setProgress(null);
    }
  };

  return (
    <section className="card">
      <h2>Upload X-rays</h2>
      {datasets.length === 0 ? (
        <p className="muted">Create a dataset first (Manage → Datasets).</p>
      ) : (
        <form className="upload-form" onSubmit={onSubmit}>
          <label>
            Dataset
            <select name="datasetId" required>
              {datasets.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Images (PNG, JPEG, 16-bit PNG, DICOM)
            <input
              name="files"
              type="file"
              multiple
              required
              accept=".png,.jpg,.jpeg,.dcm,.dicom,image/*,application/dicom"
            />
          </label>
          <label>
            Labels CSV (optional; paths are the file names)
            <input name="labels" type="file" accept=".csv,text/csv" />
          </label>
          <label>
            Column mapping
            <select name="mapping" defaultValue="">
              <option value="">By column names (path, split, schema keys)</option>
              <option value="knee-kl">Knee KL grades (kl_grade, oa_kl_ge2)</option>
            </select>
          </label>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Importing…" : "Import"}
          </button>
        </form>
      )}
      {progress !== null && (
        <div data-testid="import-progress">
          <progress className="progress" max={1} value={progress} />
          <p className="muted">
            {progress < 1
              ? `Uploading… ${Math.round(progress * 100)} %`
              : "Uploaded; importing on the server…"}
          </p>
        </div>
      )}
      {error && (
        <p role="alert" className="form-error">
          {error}
        </p>
      )}
      {report && (
        <div className="report" data-testid="import-report">
          <p>
            <strong>{report.totals.imported}</strong> imported, <strong>{report.totals.duplicates}</strong>{" "}
            duplicate
            {report.totals.duplicates === 1 ? "" : "s"}, <strong>{report.totals.refused}</strong> refused
            {report.labelled > 0 && <>, {report.labelled} with labels</>} ({report.seconds.toFixed(1)} s).
          </p>
          {report.refused.length > 0 && (
            <table className="table">
              <thead>
                <tr>
                  <th>Refused file</th>
                  <th>Reason</th>
                </tr>
              </thead>
              <tbody>
                {report.refused.map((r) => (
                  <tr key={`${r.path}:${r.reason}`}>
                    <td>{r.path}</td>
                    <td>{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}
