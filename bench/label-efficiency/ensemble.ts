/**
 * Held-out AUROC of saved knee models (run.ts --save-model) and of their ensemble (mean gate
 * probability): how good a teacher ensemble is before a student learns from it.
 *
 *   pnpm exec tsx bench/label-efficiency/ensemble.ts .cache/bench-knee-teacher9-s0 .cache/bench-knee-student10-s0
 *
 * Prints one JSON line per model and one for the ensemble.
 */
import { initBackend } from "../../packages/ml/src/backend/index.js";
import { kneeSplit, loadKneeDataset } from "../../packages/ml/src/data/knee.js";
import { predictImages } from "../../packages/ml/src/fixmatch/predict.js";
import { loadClassifier } from "../../packages/ml/src/io/model-io.js";
import { aurocCI } from "../../packages/ml/src/metrics/index.js";

const dirs = process.argv.slice(2);
if (dirs.length === 0) throw new Error("usage: ensemble.ts <model dir> [<model dir> ...]");

await initBackend({ prefer: "wasm" });
const nets = await Promise.all(dirs.map((d) => loadClassifier(d)));
const size = nets[0]!.config.encoder.inputSize;
if (nets.some((n) => n.config.encoder.inputSize !== size))
  throw new Error("the models take different input sizes");
const k = await loadKneeDataset({ root: "/work/shared/data/knee-oa-128", size, cacheDir: ".cache/knee" });
const val = kneeSplit(k, "val");
const images = val.images;
const labels = val.rows.map((r) => r.oa_kl_ge2);
const sum = new Float64Array(labels.length);
for (const [m, net] of nets.entries()) {
  const p = await predictImages(net, images, { batchSize: 128 });
  const K = net.headKeys.length;
  const gate = labels.map((_, i) => p.probs[i * K] ?? 0);
  gate.forEach((v, i) => {
    sum[i] = (sum[i] ?? 0) + v;
  });
  const ci = aurocCI(labels, gate);
  console.log(JSON.stringify({ model: dirs[m], auroc: ci.auroc, lower: ci.lower, upper: ci.upper }));
  net.full.dispose();
}
const ci = aurocCI(
  labels,
  Array.from(sum, (v) => v / nets.length),
);
console.log(JSON.stringify({ ensemble: dirs, auroc: ci.auroc, lower: ci.lower, upper: ci.upper }));
