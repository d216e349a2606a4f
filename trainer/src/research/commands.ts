import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  buildClassifier,
  buildEncoder,
  copyEncoderWeights,
  csvEscape,
  fitClassifier,
  gatedPrediction,
  getPretrainer,
  initBackend,
  loadClassifier,
  loadEncoder,
  type PretrainStage,
  perHeadReport,
  predictImages,
  readModelMetadata,
  saveClassifier,
  saveEncoder,
  sslView,
  strongAugment,
  subsetImages,
  weakAugment,
  writeFileAtomic,
} from "@xray/ml";
import { type RunConfig, runConfigSchema } from "./config.js";
import {
  loadResearchData,
  type ResearchData,
  sampleLabelledByGroup,
  splitIndices,
  subsetData,
} from "./data.js";
import { type Command, registerCommand } from "./registry.js";
import { gitRevision, openRunDir, resolveModelDir } from "./run-dir.js";

const FLAGS = {
  config: { type: "string" },
  data: { type: "string" },
  csv: { type: "string" },
  heads: { type: "string" },
  size: { type: "string" },
  seed: { type: "string" },
  "run-dir": { type: "string" },
  resume: { type: "boolean" },
  "labelled-fraction": { type: "string" },
  "eval-split": { type: "string" },
  width: { type: "string" },
  blocks: { type: "string" },
  dropout: { type: "string" },
  epochs: { type: "string" },
  "batch-size": { type: "string" },
  "steps-per-epoch": { type: "string" },
  lr: { type: "string" },
  supervised: { type: "boolean" },
  threshold: { type: "string" },
  weighting: { type: "string" },
  "pseudo-labels": { type: "string" },
  targets: { type: "string" },
  teacher: { type: "string", multiple: true },
  mu: { type: "string" },
  "lambda-u": { type: "string" },
  "labelled-aug": { type: "string" },
  mixup: { type: "string" },
  "unlabelled-mixup": { type: "string" },
  encoder: { type: "string" },
  "encoder-lr-scale": { type: "string" },
  temperature: { type: "string" },
  method: { type: "string" },
  stages: { type: "string" },
  model: { type: "string" },
  split: { type: "string" },
  out: { type: "string" },
  "mc-samples": { type: "string" },
  backend: { type: "string" },
} as const;

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

/** Merges a JSON config file (--config) with flags (flags win) and validates the result. */
export async function resolveConfig(
  command: RunConfig["command"],
  argv: string[],
): Promise<{ config: RunConfig; backend?: string }> {
  const { values: f } = parseArgs({ args: argv, options: FLAGS, allowPositionals: false });
  const base = (f.config ? JSON.parse(await readFile(f.config, "utf8")) : {}) as Record<string, unknown>;
  const get = <T extends Record<string, unknown>>(k: string): T => (base[k] as T | undefined) ?? ({} as T);
  const data = { ...get("data") };
  if (f.data) data.source = f.data;
  if (f.csv) data.csv = f.csv;
  if (f.size) data.size = num(f.size);
  if (f.heads) data.headMap = JSON.parse(await readFile(f.heads, "utf8"));
  if (f["labelled-fraction"]) data.labelledFraction = num(f["labelled-fraction"]);
  if (f["eval-split"]) data.evalSplit = f["eval-split"];
  const model = { ...get("model") };
  if (f.width) model.width = num(f.width);
  if (f.blocks) model.blocks = f.blocks.split(",").map(Number);
  if (f.dropout) model.dropout = num(f.dropout);
  const ssl = { ...get<{ settings?: Record<string, unknown> }>("ssl") };
  const sslSettings = { ...(ssl.settings ?? {}) };
  const fit = { ...get<{ settings?: Record<string, unknown> }>("fit") };
  const fitSettings = { ...(fit.settings ?? {}) };
  const fixmatch = { ...((fitSettings.fixmatch as Record<string, unknown> | undefined) ?? {}) };
  if (f.seed) {
    sslSettings.seed = num(f.seed);
    fitSettings.seed = num(f.seed);
  }
  if (f.epochs) {
    (ssl as Record<string, unknown>).epochs = num(f.epochs);
    fitSettings.epochs = num(f.epochs);
  }
  if (f["batch-size"]) {
    sslSettings.batchSize = num(f["batch-size"]);
    fitSettings.batchSize = num(f["batch-size"]);
  }
  if (f["steps-per-epoch"]) {
    sslSettings.stepsPerEpoch = num(f["steps-per-epoch"]);
    fitSettings.stepsPerEpoch = num(f["steps-per-epoch"]);
  }
  if (f.lr) {
    sslSettings.lr = num(f.lr);
    fitSettings.lr = num(f.lr);
  }
  if (f.temperature) sslSettings.temperature = num(f.temperature);
  if (f.method) sslSettings.method = f.method;
  if (f.stages) (ssl as Record<string, unknown>).stages = JSON.parse(f.stages);
  if (f.supervised) fixmatch.enabled = false;
  if (f.threshold) fixmatch.threshold = num(f.threshold);
  if (f.weighting) fixmatch.weighting = f.weighting;
  if (f["pseudo-labels"]) fixmatch.pseudoLabels = f["pseudo-labels"];
  if (f.targets) fixmatch.targets = f.targets;
  if (f.mu) fixmatch.mu = num(f.mu);
  if (f["lambda-u"]) fixmatch.lambdaU = num(f["lambda-u"]);
  if (f["unlabelled-mixup"]) fixmatch.mixup = num(f["unlabelled-mixup"]);
  if (Object.keys(fixmatch).length > 0) fitSettings.fixmatch = fixmatch;
  if (f.encoder) (fit as Record<string, unknown>).encoder = f.encoder;
  if (f.teacher?.length)
    (fit as Record<string, unknown>).teacher = f.teacher.length === 1 ? f.teacher[0] : f.teacher;
  if (f["encoder-lr-scale"]) fitSettings.encoderLrScale = num(f["encoder-lr-scale"]);
  if (f["labelled-aug"]) fitSettings.labelledAugment = f["labelled-aug"];
  if (f.mixup) fitSettings.mixup = num(f.mixup);
  const raw: Record<string, unknown> = {
    ...base,
    command,
    data,
    model,
    ssl: { ...ssl, settings: sslSettings },
    fit: { ...fit, settings: fitSettings },
  };
  if (f.seed) raw.seed = num(f.seed);
  if (f["run-dir"]) raw.runDir = f["run-dir"];
  if (f.resume) raw.resume = true;
  if (f.model) raw.modelPath = f.model;
  if (f.split) raw.split = f.split;
  if (f.out) raw.out = f.out;
  if (f["mc-samples"]) raw.mcSamples = num(f["mc-samples"]);
  if (f.threshold && (command === "eval" || command === "predict")) raw.threshold = num(f.threshold);
  const parsed = runConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `invalid config: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  return { config: parsed.data, ...(f.backend ? { backend: f.backend } : {}) };
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);

async function startBackend(prefer?: string) {
  const p =
    prefer === "wasm" || prefer === "cpu" || prefer === "tensorflow" || prefer === "tensorflow-gpu"
      ? prefer
      : "auto";
  return initBackend({ prefer: p });
}

async function dataFor(cfg: RunConfig, size?: number): Promise<ResearchData> {
  return loadResearchData({
    source: cfg.data.source,
    size: size ?? cfg.data.size,
    cacheDir: cfg.data.cacheDir,
    log,
    ...(cfg.data.csv ? { csv: cfg.data.csv } : {}),
    ...(cfg.data.headMap ? { headMap: cfg.data.headMap } : {}),
  });
}

function encoderCfg(cfg: RunConfig, inputSize: number) {
  return { inputSize, width: cfg.model.width, blocks: cfg.model.blocks, stem: cfg.model.stem };
}

async function pretrainCmd(argv: string[]): Promise<number> {
  const { config: cfg, backend } = await resolveConfig("pretrain", argv);
  const be = await startBackend(backend);
  const runDir = await openRunDir({
    command: "pretrain",
    runDir: cfg.runDir,
    config: cfg,
    seed: cfg.seed,
    resume: cfg.resume,
  });
  log(`run ${runDir}`);
  const specs = cfg.ssl.stages ?? [{ name: "main", source: cfg.data.source, epochs: cfg.ssl.epochs }];
  const stages: PretrainStage[] = [];
  for (const s of specs) {
    const d = await loadResearchData({
      source: s.source,
      size: cfg.data.size,
      cacheDir: cfg.data.cacheDir,
      log,
      ...(s.csv ? { csv: s.csv } : {}),
      ...(cfg.data.headMap ? { headMap: cfg.data.headMap } : {}),
    }).catch(async () =>
      // Unlabelled sources need no head map: treat them as bare image folders.
      loadResearchData({
        source: s.source,
        size: cfg.data.size,
        cacheDir: cfg.data.cacheDir,
        log,
        csv: join(s.source, "__none__.csv"),
      }),
    );
    // Never pretrain on the held-out split.
    const evalSplit = cfg.data.evalSplit ?? d.defaultEvalSplit;
    const idx = d.splits.flatMap((sp, i) => (sp !== evalSplit || evalSplit === "all" ? [i] : []));
    stages.push({ name: s.name, data: subsetImages(d.images, idx), epochs: s.epochs });
    log(`stage ${s.name}: ${idx.length} images from ${s.source}`);
  }
  const ec = encoderCfg(cfg, cfg.data.size);
  const encoder = buildEncoder(ec);
  const method = cfg.ssl.settings.method ?? "simclr";
  const res = await getPretrainer(method).pretrain({
    config: { ...cfg.ssl.settings, seed: cfg.seed },
    encoder,
    encoderConfig: { ...ec, width: cfg.model.width, blocks: cfg.model.blocks },
    stages,
    view: (x, rng) => sslView(x, rng),
    runDir,
    resume: cfg.resume,
    onEpoch: (m) =>
      log(
        `[${m.stage}] epoch ${m.epoch} loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} ${m.seconds.toFixed(1)}s`,
      ),
  });
  await saveEncoder(encoder, { ...ec }, { mean: 0.5, std: 0.25 }, join(runDir, "model"), {
    gitRevision: gitRevision(),
    extra: { method, stages: specs, backend: be.detail, lastLoss: res.lastLoss },
  });
  encoder.dispose();
  process.stdout.write(
    `${JSON.stringify({ runDir, epochs: res.epochsRun, lastLoss: res.lastLoss, finished: res.finished })}\n`,
  );
  return 0;
}

async function fitCmd(argv: string[]): Promise<number> {
  const { config: cfg, backend } = await resolveConfig("fit", argv);
  const be = await startBackend(backend);
  let pretrained: Awaited<ReturnType<typeof loadEncoder>> | null = null;
  let size = cfg.data.size;
  if (cfg.fit.encoder) {
    pretrained = await loadEncoder(resolveModelDir(cfg.fit.encoder));
    size = pretrained.meta.inputSize;
  }
  // A teacher of another input size is refused before the run folder exists.
  const teacherPaths = cfg.fit.teacher === undefined ? [] : [cfg.fit.teacher].flat();
  for (const path of teacherPaths) {
    const t = await readModelMetadata(resolveModelDir(path));
    if (t.inputSize !== size) {
      pretrained?.encoder.dispose();
      throw new Error(`teacher ${path} takes ${t.inputSize} px images, this fit ${size} px`);
    }
  }
  const runDir = await openRunDir({
    command: "fit",
    runDir: cfg.runDir,
    config: cfg,
    seed: cfg.seed,
    resume: cfg.resume,
  });
  log(`run ${runDir}`);
  const data = await dataFor(cfg, size);
  const trainIdx = splitIndices(data, cfg.data.trainSplit);
  const evalSplit = cfg.data.evalSplit ?? data.defaultEvalSplit;
  const evalIdx = splitIndices(data, evalSplit);
  const lIdx = sampleLabelledByGroup(data, trainIdx, cfg.data.labelledFraction, cfg.seed);
  log(`train ${trainIdx.length} (labelled ${lIdx.length}), eval ${evalSplit} ${evalIdx.length}`);
  const labelled = subsetData(data, lIdx);
  const unlabelled = subsetImages(data.images, trainIdx);
  const encoderConfig = pretrained ? pretrained.meta.encoder : encoderCfg(cfg, size);
  const net = buildClassifier({
    encoder: encoderConfig,
    schema: data.schema,
    dropout: cfg.model.dropout,
    ...(pretrained ? { normalization: pretrained.meta.normalization } : {}),
  });
  if (pretrained) {
    copyEncoderWeights(pretrained.encoder, net.encoder);
    pretrained.encoder.dispose();
  }
  const teachers = await Promise.all(teacherPaths.map((path) => loadClassifier(resolveModelDir(path))));
  const evalSet = subsetData(data, evalIdx);
  const res = await fitClassifier({
    config: { ...cfg.fit.settings, seed: cfg.seed, seedInit: !pretrained },
    net,
    labelled,
    unlabelled,
    ...(teachers.length > 0 ? { teacher: teachers } : {}),
    augment: { weak: (x, rng) => weakAugment(x, rng), strong: (x, rng) => strongAugment(x, rng) },
    runDir,
    resume: cfg.resume,
    evaluate: async (n) => {
      if (evalIdx.length === 0) return {};
      const p = await predictImages(n, evalSet.images, { batchSize: 128 });
      return Object.fromEntries(
        n.headKeys.map((k, h) => {
          const r = perHeadReport(
            column(evalSet.labels.values, n.headKeys.length, h),
            column(p.probs, n.headKeys.length, h),
          );
          return [k, { auroc: r.auroc.value, auprc: r.auprc }];
        }),
      );
    },
    onEpoch: (m) =>
      log(
        `epoch ${m.epoch} sup ${m.supervisedLoss.toFixed(4)} unsup ${m.unsupervisedLoss.toFixed(4)} mask ${JSON.stringify(m.maskRate)} eval ${JSON.stringify(m.eval)} ${m.seconds.toFixed(1)}s`,
      ),
  });
  for (const t of teachers) t.full.dispose();
  await saveClassifier(net, join(runDir, "model"), {
    gitRevision: gitRevision(),
    extra: {
      backend: be.detail,
      labelled: lIdx.length,
      fraction: cfg.data.labelledFraction,
      encoder: cfg.fit.encoder ?? null,
      teacher: cfg.fit.teacher ?? null,
    },
  });
  net.full.dispose();
  process.stdout.write(
    `${JSON.stringify({ runDir, epochs: res.epochsRun, finished: res.finished, last: res.metrics.at(-1) })}\n`,
  );
  return 0;
}

function column(values: ArrayLike<number>, K: number, k: number): number[] {
  const out: number[] = [];
  for (let i = k; i < values.length; i += K) out.push(values[i] ?? Number.NaN);
  return out;
}

async function loadForInference(cfg: RunConfig) {
  if (!cfg.modelPath) throw new Error("--model <model folder or run folder> is required");
  const net = await loadClassifier(resolveModelDir(cfg.modelPath));
  const data = await dataFor(cfg, net.config.encoder.inputSize);
  if (data.labels.heads.join(",") !== net.headKeys.join(",")) {
    throw new Error(`data heads [${data.labels.heads}] differ from model heads [${net.headKeys}]`);
  }
  return { net, data };
}

async function evalCmd(argv: string[]): Promise<number> {
  const { config: cfg, backend } = await resolveConfig("eval", argv);
  await startBackend(backend);
  const { net, data } = await loadForInference(cfg);
  const split = cfg.split ?? cfg.data.evalSplit ?? data.defaultEvalSplit;
  const idx = splitIndices(data, split);
  const set = subsetData(data, idx);
  const p = await predictImages(net, set.images, { batchSize: 128 });
  const K = net.headKeys.length;
  const heads = Object.fromEntries(
    net.headKeys.map((k, h) => {
      const r = perHeadReport(column(set.labels.values, K, h), column(p.probs, K, h), {
        threshold: cfg.threshold,
      });
      return [
        k,
        {
          n: r.n,
          positives: r.positives,
          auroc: r.auroc.value,
          aurocCI: [r.auroc.lower, r.auroc.upper],
          auprc: r.auprc,
          threshold: cfg.threshold,
          sensitivity: r.atThreshold.sensitivity,
          specificity: r.atThreshold.specificity,
          youden: r.atYouden
            ? {
                threshold: r.atYouden.threshold,
                sensitivity: r.atYouden.sensitivity,
                specificity: r.atYouden.specificity,
              }
            : null,
          ece: r.calibration.ece,
          warnings: r.warnings,
        },
      ];
    }),
  );
  const report = { model: cfg.modelPath, data: cfg.data.source, split, count: idx.length, heads };
  if (cfg.out) await writeFileAtomic(cfg.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  net.full.dispose();
  return 0;
}

async function predictCmd(argv: string[]): Promise<number> {
  const { config: cfg, backend } = await resolveConfig("predict", argv);
  await startBackend(backend);
  const { net, data } = await loadForInference(cfg);
  const split = cfg.split ?? "all";
  const idx = splitIndices(data, split);
  const set = subsetData(data, idx);
  const p = await predictImages(net, set.images, {
    batchSize: 128,
    mcSamples: cfg.mcSamples,
    seed: cfg.seed,
  });
  const K = net.headKeys.length;
  const cols = ["path", "split"];
  for (const k of net.headKeys) {
    cols.push(`${k}_prob`, `${k}_entropy`);
    if (p.bald) cols.push(`${k}_bald`);
  }
  for (const k of net.headKeys.slice(1)) cols.push(`${k}_gated`);
  const lines = [cols.join(",")];
  idx.forEach((row, i) => {
    const probs = p.probs.subarray(i * K, (i + 1) * K);
    const cells: (string | number)[] = [data.paths[row] ?? "", data.splits[row] ?? ""];
    net.headKeys.forEach((_, h) => {
      cells.push((probs[h] ?? 0).toFixed(6), (p.entropy[i * K + h] ?? 0).toFixed(6));
      if (p.bald) cells.push((p.bald[i * K + h] ?? 0).toFixed(6));
    });
    for (const f of gatedPrediction(net.headKeys, probs).findings) cells.push(f.gatedProb.toFixed(6));
    lines.push(cells.map(csvEscape).join(","));
  });
  const out = cfg.out ?? "predictions.csv";
  await writeFileAtomic(out, `${lines.join("\n")}\n`);
  process.stdout.write(`${JSON.stringify({ out, rows: idx.length, heads: net.headKeys })}\n`);
  net.full.dispose();
  return 0;
}

const common =
  "[--config run.json] --data <folder|file.npz> [--csv labels.csv] [--heads heads.json] [--size 64] [--seed 0] [--run-dir DIR]";
export const researchCommands: Command[] = [
  {
    name: "pretrain",
    summary: "self-supervised pretraining (SimCLR or SimSiam) on one or more image sources",
    usage: `pretrain ${common} [--method simclr|simsiam] [--epochs 10] [--batch-size 64] [--temperature 0.2] [--stages '[{"name":"human","source":"...","epochs":5}]'] [--resume]`,
    run: pretrainCmd,
  },
  {
    name: "fit",
    summary: "fine-tune gate + finding heads: FixMatch (default) or --supervised",
    usage: `fit ${common} [--labelled-fraction 0.05] [--encoder runs/<pretrain>] [--encoder-lr-scale 1] [--supervised] [--epochs 10] [--threshold 0.8] [--weighting threshold|softmatch] [--pseudo-labels model|ema] [--teacher runs/<fit> ...] [--targets hard|soft] [--mu 2] [--lambda-u 1] [--labelled-aug weak|strong] [--mixup 0] [--unlabelled-mixup 0] [--resume]`,
    run: fitCmd,
  },
  {
    name: "eval",
    summary: "per-head AUROC (95% DeLong CI), AUPRC, sensitivity, specificity as JSON",
    usage: `eval --model <run or model dir> ${common} [--split val] [--threshold 0.5] [--out report.json]`,
    run: evalCmd,
  },
  {
    name: "predict",
    summary: "CSV of per-head probabilities, entropy, MC-dropout BALD and gated finding probabilities",
    usage: `predict --model <run or model dir> ${common} [--split all] [--mc-samples 10] [--out predictions.csv]`,
    run: predictCmd,
  },
];

export function registerResearchCommands(): void {
  for (const c of researchCommands) registerCommand(c);
}
