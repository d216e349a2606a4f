/** Data of the label-efficiency benchmark, shared by run.ts and probe.ts. */
import { createRng } from "../../packages/ml/src/augment/rng.js";
import type { ImageSet } from "../../packages/ml/src/data/image-set.js";
import { kneeSplit, loadKneeDataset } from "../../packages/ml/src/data/knee.js";
import { readMedMnistNpz } from "../../packages/ml/src/data/pneumoniamnist.js";
import { mixSeed } from "../../packages/ml/src/train/seed.js";

export interface Data {
  name: string;
  train: ImageSet;
  trainLabels: number[];
  /** KL grade per training image (knee only). */
  trainGrades?: number[];
  /** Group id per training image (patient for knee, the image itself otherwise). */
  groups: string[];
  test: ImageSet;
  testLabels: number[];
  testSplit: string;
}

/** The benchmark's datasets: PneumoniaMNIST (train / test) or knee-oa-128 (train / val, by patient). */
export async function loadData(dataset: string, sizeArg?: number): Promise<Data> {
  if (dataset === "pneumonia") {
    const size = sizeArg ?? 28;
    const d = await readMedMnistNpz("/work/shared/data/pneumoniamnist/pneumoniamnist.npz", { size });
    const train = d.train;
    const test = d.test;
    if (!train || !test) throw new Error("npz lacks train/test");
    return {
      name: "pneumoniamnist",
      train: train.images,
      trainLabels: train.labels,
      groups: train.labels.map((_, i) => String(i)),
      test: test.images,
      testLabels: test.labels,
      testSplit: "test",
    };
  }
  if (dataset !== "knee") throw new Error(`--dataset: pneumonia or knee, not ${dataset}`);
  const size = sizeArg ?? 64;
  const k = await loadKneeDataset({ root: "/work/shared/data/knee-oa-128", size, cacheDir: ".cache/knee" });
  const tr = kneeSplit(k, "train");
  const va = kneeSplit(k, "val");
  return {
    name: `knee-oa-${size}`,
    train: tr.images,
    trainLabels: tr.rows.map((r) => r.oa_kl_ge2),
    trainGrades: tr.rows.map((r) => r.kl_grade),
    groups: tr.rows.map((r) => r.patient_id),
    test: va.images,
    testLabels: va.rows.map((r) => r.oa_kl_ge2),
    testSplit: "val",
  };
}

/** Samples a labelled fraction by group (patient), stratified by the group's majority label. */
export function sampleLabelled(data: Data, fraction: number, s: number): number[] {
  if (fraction >= 1) return data.trainLabels.map((_, i) => i);
  const byGroup = new Map<string, number[]>();
  data.groups.forEach((g, i) => {
    const list = byGroup.get(g) ?? [];
    list.push(i);
    byGroup.set(g, list);
  });
  const rng = createRng(mixSeed(s, 77, Math.round(fraction * 1e6)));
  const strata: [string[], string[]] = [[], []];
  for (const [g, idx] of byGroup) {
    const pos = idx.filter((i) => data.trainLabels[i] === 1).length;
    strata[pos * 2 >= idx.length ? 1 : 0].push(g);
  }
  const chosen: number[] = [];
  for (const groups of strata) {
    const want = Math.max(1, Math.round(groups.length * fraction));
    for (const g of rng.shuffle(groups.slice()).slice(0, want)) chosen.push(...(byGroup.get(g) ?? []));
  }
  return chosen.sort((a, b) => a - b);
}
