"use client";

import { keepPreviousData, useMutation, useQuery } from "@tanstack/react-query";
import { QUERY_STRATEGIES, roundConfigSchema } from "@xray/core/round-config";
import { useState } from "react";
import { useTRPC } from "@/trpc/client";

// The form's defaults are the schema's own defaults: one source of truth for the form, API and worker.
const DEFAULTS = roundConfigSchema.parse({});
const SSL_DEFAULTS = roundConfigSchema.shape.pretrain.parse({ mode: "ssl" });

type SslMethod = "simclr" | "simsiam";
const SSL_METHODS: readonly { value: SslMethod; label: string; hint: string }[] = [
  {
    value: "simclr",
    label: "SimCLR",
    hint: "contrastive: pulls two views of an image together and pushes other images away; wants larger batches",
  },
  {
    value: "simsiam",
    label: "SimSiam",
    hint: "no negatives: a predictor matches one view to the other under a stop-gradient; fine with small batches",
  },
];

interface FormState {
  seed: string;
  inputSize: string;
  width: string;
  blocks: string;
  pretrain: "none" | "ssl";
  sslMethod: SslMethod;
  sslEpochs: string;
  fixmatchEnabled: boolean;
  epochs: string;
  batchSize: string;
  mu: string;
  threshold: string;
  consensus: "majority" | "unanimous";
  strategy: (typeof QUERY_STRATEGIES)[number];
  heatmapsTop: string;
  promote: "if-none-active" | "never" | "always";
}

const initial: FormState = {
  seed: String(DEFAULTS.seed),
  inputSize: String(DEFAULTS.inputSize),
  width: String(DEFAULTS.encoder.width),
  blocks: DEFAULTS.encoder.blocks.join(","),
  pretrain: DEFAULTS.pretrain.mode === "ssl" ? "ssl" : "none",
  sslMethod: SSL_DEFAULTS.mode === "ssl" ? SSL_DEFAULTS.method : "simclr",
  sslEpochs: "5",
  fixmatchEnabled: DEFAULTS.fixmatch.enabled,
  epochs: String(DEFAULTS.fixmatch.epochs),
  batchSize: String(DEFAULTS.fixmatch.batchSize),
  mu: String(DEFAULTS.fixmatch.mu),
  threshold: String(DEFAULTS.fixmatch.threshold),
  consensus: DEFAULTS.labels.consensus,
  strategy: DEFAULTS.scoring.strategy,
  heatmapsTop: String(DEFAULTS.scoring.heatmapsTop),
  promote: DEFAULTS.promote,
};

const n = (s: string) => (s.trim() === "" ? Number.NaN : Number(s));

function toConfig(f: FormState) {
  return {
    seed: n(f.seed),
    inputSize: n(f.inputSize),
    encoder: { width: n(f.width), blocks: f.blocks.split(",").map(n) },
    pretrain:
      f.pretrain === "ssl"
        ? { mode: "ssl" as const, method: f.sslMethod, epochs: n(f.sslEpochs) }
        : { mode: "none" as const },
    fixmatch: {
      enabled: f.fixmatchEnabled,
      epochs: n(f.epochs),
      batchSize: n(f.batchSize),
      mu: n(f.mu),
      threshold: n(f.threshold),
    },
    labels: { consensus: f.consensus },
    scoring: { strategy: f.strategy, heatmapsTop: n(f.heatmapsTop) },
    promote: f.promote,
  };
}

function formatSeconds(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function StartRoundForm({
  datasetId,
  onStarted,
}: {
  datasetId: string;
  onStarted: (id: string) => void;
}) {
  const trpc = useTRPC();
  const [form, setForm] = useState<FormState>(initial);
  const config = toConfig(form);
  const parsed = roundConfigSchema.safeParse(config);
  const estimate = useQuery({
    ...trpc.rounds.estimate.queryOptions({ datasetId, config }),
    enabled: parsed.success,
    placeholderData: keepPreviousData,
  });
  const start = useMutation(trpc.rounds.start.mutationOptions({ onSuccess: (r) => onStarted(r.id) }));
  const set =
    <K extends keyof FormState>(key: K) =>
    (value: FormState[K]) =>
      setForm((f) => ({ ...f, [key]: value }));
  const field = (
    key: keyof FormState,
    label: string,
    props: { min?: number; max?: number; step?: number } = {},
  ) => (
    <label>
      {label}
      <input
        name={key}
        type="number"
        value={String(form[key])}
        onChange={(e) => setForm((f) => ({ ...f, [key]: e.target.value }))}
        {...props}
      />
    </label>
  );
  const errors = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.join(".") || "config"}: ${i.message}`);
  return (
    <section className="card">
      <h2>Start a round</h2>
      <form
        className="schema-form"
        aria-label="Start a round"
        onSubmit={(e) => {
          e.preventDefault();
          if (parsed.success) start.mutate({ datasetId, config: parsed.data });
        }}
      >
        <fieldset className="inline-form">
          <legend>Model</legend>
          {field("inputSize", "Input size (px)", { min: 28, max: 224 })}
          {field("width", "Encoder width (channels, ×8)", { min: 8, max: 128, step: 8 })}
          <label>
            Blocks per stage
            <input name="blocks" value={form.blocks} onChange={(e) => set("blocks")(e.target.value)} />
          </label>
          {field("seed", "Seed")}
        </fieldset>
        <fieldset className="inline-form">
          <legend>Pretraining</legend>
          <label>
            Encoder
            <select
              name="pretrain"
              value={form.pretrain}
              onChange={(e) => set("pretrain")(e.target.value === "ssl" ? "ssl" : "none")}
            >
              <option value="none">from scratch</option>
              <option value="ssl">self-supervised</option>
            </select>
          </label>
          {form.pretrain === "ssl" && (
            <>
              <label>
                SSL method
                <select
                  name="sslMethod"
                  value={form.sslMethod}
                  onChange={(e) => set("sslMethod")(e.target.value === "simsiam" ? "simsiam" : "simclr")}
                >
                  {SSL_METHODS.map((m) => (
                    <option key={m.value} value={m.value} title={m.hint}>
                      {m.label}
                    </option>
                  ))}
                </select>
              </label>
              {field("sslEpochs", "SSL epochs", { min: 1, max: 200 })}
              <ul className="muted form-hints" data-testid="ssl-method-hints">
                {SSL_METHODS.map((m) => (
                  <li key={m.value} aria-current={m.value === form.sslMethod ? "true" : undefined}>
                    <strong>{m.label}</strong>: {m.hint}
                  </li>
                ))}
              </ul>
            </>
          )}
        </fieldset>
        <fieldset className="inline-form">
          <legend>Supervised + FixMatch</legend>
          <label>
            <input
              type="checkbox"
              checked={form.fixmatchEnabled}
              onChange={(e) => set("fixmatchEnabled")(e.target.checked)}
            />
            FixMatch on the unlabelled pool
          </label>
          {field("epochs", "Epochs", { min: 1, max: 500 })}
          {field("batchSize", "Batch size", { min: 4, max: 512 })}
          {field("mu", "Unlabelled ratio μ", { min: 1, max: 16 })}
          {field("threshold", "Confidence threshold", { min: 0.5, max: 1, step: 0.01 })}
          <label>
            Labels
            <select
              name="consensus"
              value={form.consensus}
              onChange={(e) => set("consensus")(e.target.value === "unanimous" ? "unanimous" : "majority")}
            >
              <option value="majority">gold, else majority of reads</option>
              <option value="unanimous">gold, else unanimous reads</option>
            </select>
          </label>
        </fieldset>
        <fieldset className="inline-form">
          <legend>Scoring and queue</legend>
          <label>
            Strategy
            <select
              name="strategy"
              value={form.strategy}
              onChange={(e) => {
                const s = QUERY_STRATEGIES.find((q) => q === e.target.value);
                if (s) set("strategy")(s);
              }}
            >
              {QUERY_STRATEGIES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          {field("heatmapsTop", "Heatmaps for the top", { min: 0, max: 1000 })}
          <label>
            Promote
            <select
              name="promote"
              value={form.promote}
              onChange={(e) =>
                set("promote")(
                  e.target.value === "never"
                    ? "never"
                    : e.target.value === "always"
                      ? "always"
                      : "if-none-active",
                )
              }
            >
              <option value="if-none-active">if none is active</option>
              <option value="never">never (I promote)</option>
              <option value="always">always</option>
            </select>
          </label>
        </fieldset>
        {errors.length > 0 && (
          <ul className="form-error" role="alert">
            {errors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        )}
        <p data-testid="round-estimate">
          {estimate.data
            ? `Estimated run time: ${formatSeconds(estimate.data.seconds)} (${estimate.data.counts.labelled} labelled, ${estimate.data.counts.unlabelled} unlabelled, ${estimate.data.counts.evaluation} held out)`
            : "Estimated run time: —"}
        </p>
        <button type="submit" className="primary" disabled={!parsed.success || start.isPending}>
          {start.isPending ? "Starting…" : "Start round"}
        </button>
        {start.error && <p className="form-error">{start.error.message}</p>}
      </form>
    </section>
  );
}
