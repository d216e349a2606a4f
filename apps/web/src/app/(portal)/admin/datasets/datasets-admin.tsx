"use client";

import { useMutation } from "@tanstack/react-query";
import type { RouterOutputs } from "@xray/api";
import type { LabelSchema } from "@xray/db/schema/datasets";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { useTRPC } from "@/trpc/client";

type DatasetOverview = RouterOutputs["datasets"]["list"][number];

/** "key | Name" per line: a plain-text editor for the ordered findings. */
function findingsToText(schema: LabelSchema): string {
  return schema.findings.map((f) => `${f.key} | ${f.name}`).join("\n");
}
function textToFindings(text: string): LabelSchema["findings"] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [key = "", ...rest] = line.split("|");
      const name = rest.join("|").trim();
      return { key: key.trim(), name: name || key.trim() };
    });
}

export function DatasetsAdmin({
  datasets,
  canManage,
  presets,
}: {
  datasets: DatasetOverview[];
  canManage: boolean;
  presets: Record<string, LabelSchema>;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const create = useMutation(trpc.datasets.create.mutationOptions({ onSuccess: () => router.refresh() }));
  const presetNames = Object.keys(presets);
  const [preset, setPreset] = useState(presetNames[0] ?? "");

  const onCreate = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    create.mutate(
      {
        name: String(data.get("name") ?? ""),
        description: String(data.get("description") ?? ""),
        labelSchema: presets[preset],
      },
      { onSuccess: () => form.reset() },
    );
  };

  return (
    <div className="stack">
      {canManage && (
        <section className="card">
          <h2>New dataset</h2>
          <form className="inline-form" onSubmit={onCreate}>
            <label>
              Name
              <input name="name" required maxLength={200} />
            </label>
            <label className="grow">
              Description
              <input name="description" maxLength={2000} />
            </label>
            <label>
              Label schema
              <select value={preset} onChange={(e) => setPreset(e.target.value)}>
                {presetNames.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
            <button type="submit" className="primary" disabled={create.isPending}>
              Create
            </button>
          </form>
          {create.error && (
            <p role="alert" className="form-error">
              {create.error.message}
            </p>
          )}
        </section>
      )}
      {datasets.length === 0 && <p className="empty">No datasets yet.</p>}
      {datasets.map((d) => (
        <DatasetEditor key={d.id} dataset={d} canManage={canManage} />
      ))}
    </div>
  );
}

function DatasetEditor({ dataset, canManage }: { dataset: DatasetOverview; canManage: boolean }) {
  const trpc = useTRPC();
  const router = useRouter();
  const settings = useMutation(
    trpc.datasets.updateSettings.mutationOptions({ onSuccess: () => router.refresh() }),
  );
  const schema = useMutation(
    trpc.datasets.updateSchema.mutationOptions({ onSuccess: () => router.refresh() }),
  );
  const [findings, setFindings] = useState(findingsToText(dataset.labelSchema));
  const [gateName, setGateName] = useState(dataset.labelSchema.gate.name);

  const onSettings = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const mode = data.get("readingMode");
    settings.mutate({
      id: dataset.id,
      readingMode: mode === "assisted" ? "assisted" : "blind",
      readsPerImage: Number(data.get("readsPerImage")),
    });
  };
  const onSchema = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    schema.mutate({
      id: dataset.id,
      labelSchema: {
        gate: { ...dataset.labelSchema.gate, name: gateName },
        findings: textToFindings(findings),
      },
    });
  };

  return (
    <section className="card" data-testid="dataset-editor">
      <h2>{dataset.name}</h2>
      <p className="muted">
        {dataset.images.toLocaleString("en")} images, {dataset.labelled.toLocaleString("en")} labelled
      </p>
      <form className="inline-form" onSubmit={onSettings}>
        <label>
          Reading mode
          <select name="readingMode" defaultValue={dataset.readingMode}>
            <option value="blind">blind (no model output before the read)</option>
            <option value="assisted">assisted (probabilities and heatmaps)</option>
          </select>
        </label>
        <label>
          Reads per image
          <input name="readsPerImage" type="number" min={1} max={10} defaultValue={dataset.readsPerImage} />
        </label>
        <button type="submit" disabled={settings.isPending}>
          Save settings
        </button>
        {settings.isSuccess && <span className="form-ok">Saved.</span>}
      </form>
      {settings.error && (
        <p role="alert" className="form-error">
          {settings.error.message}
        </p>
      )}
      {canManage ? (
        <form className="schema-form" onSubmit={onSchema}>
          <label>
            Gate label (normal / abnormal)
            <input value={gateName} onChange={(e) => setGateName(e.target.value)} />
          </label>
          <label>
            Findings, in reading order — one per line as <code>key | Name</code>
            <textarea
              rows={Math.max(4, dataset.labelSchema.findings.length + 1)}
              value={findings}
              onChange={(e) => setFindings(e.target.value)}
            />
          </label>
          <button type="submit" disabled={schema.isPending}>
            Save label schema
          </button>
          {schema.isSuccess && <span className="form-ok">Saved.</span>}
          {schema.error && (
            <p role="alert" className="form-error">
              {schema.error.message}
            </p>
          )}
        </form>
      ) : (
        <ol className="findings">
          {dataset.labelSchema.findings.map((f) => (
            <li key={f.key}>{f.name}</li>
          ))}
        </ol>
      )}
    </section>
  );
}
