import { existsSync, statSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import {
  createRng,
  type ImageSet,
  type LabelMatrix,
  type LabelSchema,
  loadImageFolder,
  mixSeed,
  readMedMnistNpz,
  subsetImages,
} from "@xray/ml";
import { type HeadMap, KNEE_HEAD_MAP } from "./config.js";

/** Every image of a dataset with its split, group and per-head labels (NaN = missing). */
export interface ResearchData {
  images: ImageSet;
  paths: string[];
  splits: string[];
  groups: string[];
  labels: LabelMatrix;
  schema: LabelSchema;
  defaultEvalSplit: string;
}

const IMAGE_EXT = /\.(png|jpe?g|tiff?|webp|bmp)$/i;

async function listImages(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (IMAGE_EXT.test(e.name)) out.push(relative(root, p));
    }
  };
  await walk(root);
  return out.sort();
}

function headValue(raw: string | undefined, equals: string | string[] | undefined): number {
  if (raw === undefined || raw.trim() === "") return Number.NaN;
  if (equals !== undefined) return (Array.isArray(equals) ? equals : [equals]).includes(raw.trim()) ? 1 : 0;
  const v = Number(raw);
  return v === 0 || v === 1 ? v : Number.NaN;
}

export async function loadResearchData(opts: {
  source: string;
  csv?: string;
  size: number;
  headMap?: HeadMap;
  cacheDir: string;
  log?: (msg: string) => void;
}): Promise<ResearchData> {
  if (opts.source.endsWith(".npz")) {
    const d = await readMedMnistNpz(opts.source, { size: opts.size });
    const parts = Object.entries(d);
    const images = concatImages(parts.map(([, s]) => s.images));
    const splits = parts.flatMap(([name, s]) => s.labels.map(() => name));
    const values = Float32Array.from(parts.flatMap(([, s]) => s.labels));
    return {
      images,
      paths: parts.flatMap(([name, s]) => s.labels.map((_, i) => `${name}/${i}`)),
      splits,
      groups: splits.map((s, i) => `${s}/${i}`),
      labels: { heads: ["abnormal"], values },
      schema: { gate: { key: "abnormal", name: "Abnormal" }, findings: [] },
      defaultEvalSplit: "test",
    };
  }
  const csv = opts.csv ?? join(opts.source, "labels.csv");
  if (!existsSync(csv)) {
    // A bare folder of images: no labels, one "all" split (for pretrain and predict).
    if (!statSync(opts.source).isDirectory())
      throw new Error(`${opts.source} is neither a folder nor an .npz`);
    const paths = await listImages(opts.source);
    const { decodeGrey } = await import("@xray/ml");
    const px = opts.size * opts.size;
    const pixels = new Uint8Array(paths.length * px);
    for (const [i, p] of paths.entries())
      pixels.set(await decodeGrey(join(opts.source, p), opts.size), i * px);
    const map = opts.headMap;
    const heads = map ? [map.gate.key, ...map.findings.map((f) => f.key)] : ["abnormal"];
    return {
      images: { count: paths.length, size: opts.size, pixels },
      paths,
      splits: paths.map(() => "all"),
      groups: paths,
      labels: { heads, values: new Float32Array(paths.length * heads.length).fill(Number.NaN) },
      schema: map
        ? {
            gate: { key: map.gate.key, name: map.gate.name },
            findings: map.findings.map((f) => ({ key: f.key, name: f.name })),
          }
        : { gate: { key: "abnormal", name: "Abnormal" }, findings: [] },
      defaultEvalSplit: "all",
    };
  }
  const folder = await loadImageFolder({
    root: opts.source,
    csv,
    size: opts.size,
    cacheDir: opts.cacheDir,
    onProgress: (d, t) => opts.log?.(`decoded ${d}/${t}`),
  });
  const map = opts.headMap ?? (folder.header.includes("kl_grade") ? KNEE_HEAD_MAP : undefined);
  if (!map) throw new Error("no head map: pass --heads <json> (gate + findings columns)");
  const specs = [map.gate, ...map.findings];
  const K = specs.length;
  const values = new Float32Array(folder.rows.length * K);
  folder.rows.forEach((r, i) => {
    specs.forEach((s, k) => {
      values[i * K + k] = headValue(r[s.column], s.equals);
    });
  });
  return {
    images: folder.images,
    paths: folder.rows.map((r) => r[map.pathColumn] ?? ""),
    splits: folder.rows.map((r) => r[map.splitColumn] ?? "all"),
    groups: folder.rows.map((r, i) => (map.groupColumn ? (r[map.groupColumn] ?? String(i)) : String(i))),
    labels: { heads: specs.map((s) => s.key), values },
    schema: {
      gate: { key: map.gate.key, name: map.gate.name },
      findings: map.findings.map((f) => ({ key: f.key, name: f.name })),
    },
    defaultEvalSplit: "val",
  };
}

function concatImages(sets: ImageSet[]): ImageSet {
  const size = sets[0]?.size ?? 0;
  const count = sets.reduce((a, s) => a + s.count, 0);
  const pixels = new Uint8Array(count * size * size);
  let off = 0;
  for (const s of sets) {
    pixels.set(s.pixels, off);
    off += s.pixels.length;
  }
  return { count, size, pixels };
}

/** Row indices of a split ("all" = every row). */
export function splitIndices(data: ResearchData, split: string): number[] {
  return data.splits.flatMap((s, i) => (split === "all" || s === split ? [i] : []));
}

/**
 * A labelled subset of `indices`: whole groups (patients) drawn with a seed, stratified by whether
 * the group has any positive gate label, so both classes are present even at 1%.
 */
export function sampleLabelledByGroup(
  data: ResearchData,
  indices: number[],
  fraction: number,
  seed: number,
): number[] {
  if (fraction >= 1) return indices.slice();
  const K = data.labels.heads.length;
  const byGroup = new Map<string, number[]>();
  for (const i of indices) {
    const g = data.groups[i] ?? String(i);
    const list = byGroup.get(g) ?? [];
    list.push(i);
    byGroup.set(g, list);
  }
  const strata: [string[], string[]] = [[], []];
  for (const [g, idx] of byGroup) strata[idx.some((i) => data.labels.values[i * K] === 1) ? 1 : 0].push(g);
  const rng = createRng(mixSeed(seed, 77, Math.round(fraction * 1e6)));
  const chosen: number[] = [];
  for (const groups of strata) {
    if (groups.length === 0) continue;
    const want = Math.max(1, Math.round(groups.length * fraction));
    for (const g of rng.shuffle(groups.slice()).slice(0, want)) chosen.push(...(byGroup.get(g) ?? []));
  }
  return chosen.sort((a, b) => a - b);
}

export function subsetData(data: ResearchData, idx: number[]): { images: ImageSet; labels: LabelMatrix } {
  const K = data.labels.heads.length;
  const values = new Float32Array(idx.length * K);
  idx.forEach((r, i) => {
    values.set(data.labels.values.subarray(r * K, (r + 1) * K), i * K);
  });
  return { images: subsetImages(data.images, idx), labels: { heads: data.labels.heads, values } };
}
