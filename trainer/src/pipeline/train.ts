import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { trainingLabels } from "@xray/core/labels";
import type { RoundConfig } from "@xray/core/round-config";
import { activeVersion, getVersion } from "@xray/core/versions";
import { type Db, datasets, images, type LabelSnapshot } from "@xray/db";
import { sslView, strongAugment, weakAugment } from "@xray/ml/augment/index";
import { initBackend } from "@xray/ml/backend/index";
import type { ImageSet, LabelMatrix } from "@xray/ml/data/image-set";
import { predictImages } from "@xray/ml/fixmatch/predict";
import { fitClassifier } from "@xray/ml/fixmatch/trainer";
import { loadClassifier, saveClassifier } from "@xray/ml/io/model-io";
import { perHeadReport } from "@xray/ml/metrics/index";
import { buildClassifier, copyEncoderWeights } from "@xray/ml/models/resnet";
import { getPretrainer } from "@xray/ml/ssl/pretrain";
import { TrainingCancelled } from "@xray/ml/train/loop";
import type { Storage } from "@xray/storage";
import { and, eq } from "drizzle-orm";
import type { RoundReporter } from "../worker/progress";
import { loadPixelBatch } from "./images";
import { codeRevision } from "./revision";

export interface TrainRoundArgs {
  db: Db;
  storage: Storage;
  round: { id: string; datasetId: string };
  config: RoundConfig;
  /** Checkpoints and the model before it goes to storage; kept across a worker crash. */
  workDir: string;
  reporter: RoundReporter;
  log: (line: string) => void;
}

export interface TrainRoundResult {
  artifactFiles: { name: string; data: Uint8Array }[];
  metrics: Record<string, unknown>;
  labelSnapshot: LabelSnapshot;
  parentVersionId: string | null;
  encoderFromVersionId: string | null;
  codeRevision: string;
}

/**
 * The training part of a round: labels in, a fitted and evaluated classifier out. Stages: optional
 * self-supervised pretraining (or reuse of a version's encoder), supervised + FixMatch on the current
 * labels and the unlabelled pool, evaluation per head on the held-out split. Each stage checkpoints to
 * workDir and resumes from it after a crash.
 */
export async function trainRound(args: TrainRoundArgs): Promise<TrainRoundResult> {
  const { db, storage, round, config, reporter, log } = args;
  const [dataset] = await db.select().from(datasets).where(eq(datasets.id, round.datasetId));
  if (!dataset) throw new Error("dataset not found");
  const backend = await initBackend({ log });
  const parent = await activeVersion(db, dataset.id);
  reporter.update({ stage: "preparing", message: `backend ${backend.name}; gathering labels and images` });

  const labels = await trainingLabels(db, { datasetId: dataset.id, consensus: config.labels.consensus });
  const heads = labels.heads;
  const rows = await db
    .select({ id: images.id, key: images.normalizedKey, split: images.split })
    .from(images)
    .where(and(eq(images.datasetId, dataset.id)));
  const labelOf = new Map(labels.labels.map((l) => [l.imageId, l]));
  const train = rows.filter((r) => r.split === "train" && labelOf.has(r.id));
  const evalRows = rows.filter((r) => r.split !== "train" && labelOf.has(r.id));
  const pool = rows.filter((r) => r.split === "train" && !labelOf.has(r.id));
  if (train.length < 4)
    throw new Error(`only ${train.length} labelled training images; label a few more first`);
  if (evalRows.length < 2) throw new Error("no labelled held-out (val/test) images to evaluate on");
  log(`round ${round.id}: ${train.length} labelled, ${pool.length} unlabelled, ${evalRows.length} held-out`);

  const size = config.inputSize;
  const cacheDir = path.join(storage.root, "..", "cache");
  const load = async (set: { key: string }[], what: string): Promise<ImageSet> => {
    reporter.update({ stage: "loading", message: `decoding ${set.length} ${what} images` });
    const pixels = await loadPixelBatch(
      storage,
      set.map((r) => r.key),
      size,
      cacheDir,
    );
    reporter.check();
    return { count: set.length, size, pixels };
  };
  const labelledSet = await load(train, "labelled");
  const poolSet = await load(pool, "unlabelled");
  const evalSet = await load(evalRows, "held-out");
  const matrix = (set: { id: string }[]): LabelMatrix => {
    const values = new Float32Array(set.length * heads.length);
    set.forEach((r, i) => {
      const l = labelOf.get(r.id);
      heads.forEach((h, j) => {
        values[i * heads.length + j] = l && l.mask[h] === 1 ? (l.targets[h] ?? 0) : Number.NaN;
      });
    });
    return { heads, values };
  };

  const net = buildClassifier({
    encoder: { inputSize: size, width: config.encoder.width, blocks: config.encoder.blocks },
    schema: dataset.labelSchema,
  });
  let encoderFromVersionId: string | null = null;
  let pretrained = false;
  if (config.pretrain.mode === "reuse") {
    const source = await getVersion(db, config.pretrain.versionId);
    if (source.datasetId !== dataset.id) throw new Error("the encoder to reuse belongs to another dataset");
    const from = await loadClassifier(storage.pathOf(source.artifactKey));
    copyEncoderWeights(from.encoder, net.encoder);
    from.full.dispose();
    encoderFromVersionId = source.id;
    pretrained = true;
  } else if (config.pretrain.mode === "ssl") {
    const ssl = config.pretrain;
    const all: ImageSet = {
      count: labelledSet.count + poolSet.count,
      size,
      pixels: concat(labelledSet.pixels, poolSet.pixels),
    };
    const pretrainer = getPretrainer(ssl.method);
    await honourCancel(
      reporter,
      pretrainer.pretrain({
        config: {
          method: ssl.method,
          seed: config.seed,
          batchSize: Math.min(ssl.batchSize, all.count),
          temperature: ssl.temperature,
          lr: ssl.learningRate,
        },
        encoder: net.encoder,
        encoderConfig: net.config.encoder,
        stages: [{ name: dataset.name, data: all, epochs: ssl.epochs }],
        view: (x, rng) => sslView(x, rng),
        runDir: path.join(args.workDir, "ssl"),
        resume: true,
        shouldStop: () => reporter.shouldStop(),
        onStep: (p) =>
          reporter.update({
            stage: "pretraining",
            epoch: p.epoch,
            epochs: ssl.epochs,
            step: p.step,
            steps: p.stepsInEpoch * ssl.epochs,
          }),
        onEpoch: (m) => {
          reporter.update({
            stage: "pretraining",
            epoch: m.globalEpoch,
            epochs: ssl.epochs,
            step: m.step,
            losses: { [ssl.method === "simclr" ? "contrastive" : ssl.method]: m.loss },
            // globalEpoch counts finished epochs (1 after the first).
            etaSeconds: Math.round(m.seconds * (ssl.epochs - m.globalEpoch)),
          });
          void reporter.metric("pretrain", m.globalEpoch, { loss: m.loss, lr: m.lr, seconds: m.seconds });
          reporter.check();
        },
      }),
    );
    pretrained = true;
  }

  const fm = config.fixmatch;
  const fitStart = Date.now();
  await honourCancel(
    reporter,
    fitClassifier({
      config: {
        seed: config.seed,
        epochs: fm.epochs,
        batchSize: Math.min(fm.batchSize, labelledSet.count),
        lr: fm.learningRate,
        seedInit: !pretrained,
        fixmatch: {
          enabled: fm.enabled && poolSet.count > 0,
          mu: fm.mu,
          threshold: fm.threshold,
          lambdaU: fm.unsupervisedWeight,
          distributionAlignment: fm.distributionAlignment,
        },
        ema: { enabled: fm.emaDecay > 0, decay: fm.emaDecay },
      },
      net,
      labelled: { images: labelledSet, labels: matrix(train) },
      ...(poolSet.count > 0 ? { unlabelled: poolSet } : {}),
      augment: { weak: (x, rng) => weakAugment(x, rng), strong: (x, rng) => strongAugment(x, rng) },
      runDir: path.join(args.workDir, "fit"),
      resume: true,
      shouldStop: () => reporter.shouldStop(),
      onStep: (p) =>
        reporter.update({
          stage: fm.enabled ? "fixmatch" : "supervised",
          epoch: p.epoch,
          epochs: fm.epochs,
          step: p.step,
          steps: p.stepsInEpoch * fm.epochs,
        }),
      onEpoch: (m) => {
        const perEpoch = (Date.now() - fitStart) / 1000 / m.epoch;
        const maskRates = Object.values(m.maskRate);
        const maskRate = maskRates.length ? maskRates.reduce((a, b) => a + b, 0) / maskRates.length : 0;
        reporter.update({
          stage: fm.enabled ? "fixmatch" : "supervised",
          epoch: m.epoch,
          epochs: fm.epochs,
          step: m.step,
          losses: { supervised: m.supervisedLoss, unsupervised: m.unsupervisedLoss },
          maskRate,
          etaSeconds: Math.round(perEpoch * (fm.epochs - m.epoch)),
        });
        void reporter.metric("fit", m.epoch, {
          supervisedLoss: m.supervisedLoss,
          unsupervisedLoss: m.unsupervisedLoss,
          maskRate,
          lr: m.lr,
          seconds: m.seconds,
          ...Object.fromEntries(Object.entries(m.maskRate).map(([k, v]) => [`maskRate.${k}`, v])),
        });
        reporter.check();
      },
    }),
  );

  reporter.update({ stage: "evaluating", message: `${evalRows.length} held-out images` });
  const preds = await predictImages(net, evalSet, { batchSize: 64 });
  const evalLabels = matrix(evalRows);
  const metrics: Record<string, unknown> = {};
  heads.forEach((h, j) => {
    const y: number[] = [];
    const p: number[] = [];
    for (let i = 0; i < evalRows.length; i++) {
      y.push(evalLabels.values[i * heads.length + j] ?? Number.NaN);
      p.push(preds.probs[i * heads.length + j] ?? 0);
    }
    try {
      metrics[h] = perHeadReport(y, p, { ci: { method: "delong" } });
    } catch (err) {
      metrics[h] = { error: err instanceof Error ? err.message : String(err) };
    }
  });
  metrics._summary = {
    evaluated: evalRows.length,
    labelled: train.length,
    unlabelled: pool.length,
    backend: backend.name,
  };

  const modelDir = path.join(args.workDir, "model");
  await saveClassifier(net, modelDir, { gitRevision: codeRevision(), extra: { roundId: round.id } });
  net.full.dispose();
  const artifactFiles: { name: string; data: Uint8Array }[] = [];
  for (const name of await readdir(modelDir)) {
    artifactFiles.push({ name, data: await readFile(path.join(modelDir, name)) });
  }
  return {
    artifactFiles,
    metrics,
    labelSnapshot: labels.snapshot,
    parentVersionId: parent?.id ?? null,
    encoderFromVersionId,
    codeRevision: codeRevision(),
  };
}

/**
 * The trainers stop before their next step once the reporter has learnt of a cancel (or a lost
 * lease) and throw TrainingCancelled; the round code expects RoundCancelled / RoundLost instead.
 */
async function honourCancel<T>(reporter: RoundReporter, run: Promise<T>): Promise<T> {
  try {
    return await run;
  } catch (err) {
    if (err instanceof TrainingCancelled) reporter.check();
    throw err;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
