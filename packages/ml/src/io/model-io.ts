import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { z } from "zod";
import {
  type ClassifierConfig,
  classifierConfigSchema,
  type EncoderConfig,
  encoderConfigSchema,
  labelSchemaSchema,
  normalizationSchema,
} from "../models/config.js";
import { type ClassifierNet, classifierFromFull } from "../models/resnet.js";
import { writeFileAtomic } from "./files.js";

export const MODEL_FORMAT_VERSION = 1;

/**
 * A save handler that writes the TF.js layers format to a folder (model.json + weights.bin) with
 * node:fs, so saving works without tfjs-node.
 */
export function fileSaveHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new Error("binary topology not supported");
      const weightData = artifacts.weightData
        ? new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData))
        : new Uint8Array(0);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        format: artifacts.format ?? "layers-model",
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeFileAtomic(join(dir, "weights.bin"), weightData);
      await writeFileAtomic(join(dir, "model.json"), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: "JSON",
          weightDataBytes: weightData.byteLength,
        },
      };
    },
  };
}

/** A load handler reading a folder written by fileSaveHandler (or any single-shard TF.js model). */
export function fileLoadHandler(dir: string): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const json = JSON.parse(await readFile(join(dir, "model.json"), "utf8")) as tf.io.ModelJSON;
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Uint8Array[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(new Uint8Array(await readFile(join(dir, p))));
      }
      const total = buffers.reduce((s, b) => s + b.byteLength, 0);
      const joined = new Uint8Array(total);
      let off = 0;
      for (const b of buffers) {
        joined.set(b, off);
        off += b.byteLength;
      }
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: specs,
        weightData: joined.buffer,
      };
    },
  };
}

export const modelMetadataSchema = z.object({
  formatVersion: z.literal(MODEL_FORMAT_VERSION),
  kind: z.enum(["classifier", "encoder"]),
  schema: labelSchemaSchema.optional(),
  headKeys: z.array(z.string()).optional(),
  inputSize: z.number().int(),
  normalization: normalizationSchema,
  encoder: encoderConfigSchema,
  dropout: z.number().optional(),
  tfjsVersion: z.string(),
  createdAt: z.string(),
  gitRevision: z.string().optional(),
  extra: z.record(z.string(), z.unknown()).optional(),
});
export type ModelMetadata = z.infer<typeof modelMetadataSchema>;

/** Saves a classifier: model.json + weights.bin (TF.js layers format) + metadata.json. */
export async function saveClassifier(
  net: ClassifierNet,
  dir: string,
  info: { gitRevision?: string; extra?: Record<string, unknown> } = {},
): Promise<ModelMetadata> {
  await net.full.save(fileSaveHandler(dir));
  const meta: ModelMetadata = {
    formatVersion: MODEL_FORMAT_VERSION,
    kind: "classifier",
    schema: net.config.schema,
    headKeys: net.headKeys,
    inputSize: net.config.encoder.inputSize,
    normalization: net.config.normalization,
    encoder: net.config.encoder,
    dropout: net.config.dropout,
    tfjsVersion: tf.version_core,
    createdAt: new Date().toISOString(),
    ...(info.gitRevision ? { gitRevision: info.gitRevision } : {}),
    ...(info.extra ? { extra: info.extra } : {}),
  };
  await writeFileAtomic(join(dir, "metadata.json"), JSON.stringify(meta, null, 2));
  return meta;
}

export async function readModelMetadata(dir: string): Promise<ModelMetadata> {
  return modelMetadataSchema.parse(JSON.parse(await readFile(join(dir, "metadata.json"), "utf8")));
}

export async function loadClassifier(dir: string): Promise<ClassifierNet> {
  const meta = await readModelMetadata(dir);
  if (meta.kind !== "classifier" || !meta.schema)
    throw new Error(`${dir} holds a ${meta.kind}, not a classifier`);
  const config: ClassifierConfig = classifierConfigSchema.parse({
    encoder: meta.encoder,
    schema: meta.schema,
    dropout: meta.dropout ?? 0,
    normalization: meta.normalization,
  });
  const full = await tfl.loadLayersModel(fileLoadHandler(dir));
  return classifierFromFull(full, config);
}

/** Saves a (pretrained) encoder in the same format, for fine-tuning later. */
export async function saveEncoder(
  encoder: tfl.LayersModel,
  cfg: EncoderConfig,
  normalization: { mean: number; std: number },
  dir: string,
  info: { gitRevision?: string; extra?: Record<string, unknown> } = {},
): Promise<ModelMetadata> {
  await encoder.save(fileSaveHandler(dir));
  const meta: ModelMetadata = {
    formatVersion: MODEL_FORMAT_VERSION,
    kind: "encoder",
    inputSize: cfg.inputSize,
    normalization,
    encoder: cfg,
    tfjsVersion: tf.version_core,
    createdAt: new Date().toISOString(),
    ...(info.gitRevision ? { gitRevision: info.gitRevision } : {}),
    ...(info.extra ? { extra: info.extra } : {}),
  };
  await writeFileAtomic(join(dir, "metadata.json"), JSON.stringify(meta, null, 2));
  return meta;
}

export async function loadEncoder(dir: string): Promise<{ encoder: tfl.LayersModel; meta: ModelMetadata }> {
  const meta = await readModelMetadata(dir);
  const encoder = await tfl.loadLayersModel(fileLoadHandler(dir));
  return { encoder, meta };
}
