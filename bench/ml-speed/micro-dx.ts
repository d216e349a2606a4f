import * as tf from "@tensorflow/tfjs-core";
import { initBackend, setConv2DBackpropInputForm } from "@xray/ml/backend/index";

await initBackend({ prefer: "wasm" });
const B = Number(process.env.B ?? 16);
// [spatial in, cin, cout, k, stride]
const layers: [number, number, number, number, number][] = [
  [32, 32, 32, 3, 1],
  [16, 32, 32, 3, 1],
  [16, 32, 64, 3, 2],
  [8, 64, 64, 3, 1],
  [8, 64, 128, 3, 2],
  [4, 128, 128, 3, 1],
  [4, 128, 256, 3, 2],
  [2, 256, 256, 3, 1],
  [4, 256, 256, 3, 1],
  [8, 128, 128, 3, 1],
];
for (const [s, cin, cout, k, st] of layers) {
  const x = tf.randomNormal([B, s, s, cin]) as tf.Tensor4D;
  const w = tf.randomNormal([k, k, cin, cout]) as tf.Tensor4D;
  const y = tf.conv2d(x, w, st, "same");
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const fresh = () => tf.add(w, 0) as tf.Tensor4D;
  const run = (form: "gemm" | "conv") => {
    setConv2DBackpropInputForm(form);
    const f = fresh();
    const t0 = performance.now();
    const dx = tf.conv2dTranspose(dy, f, x.shape, st, "same");
    const d = dx.dataSync();
    const t = performance.now() - t0;
    tf.dispose([f, dx]);
    return { t, d };
  };
  const c: number[] = [],
    g: number[] = [];
  let maxd = 0;
  for (let i = 0; i < 7; i++) {
    const a = run("conv");
    const b = run("gemm");
    c.push(a.t);
    g.push(b.t);
    for (let j = 0; j < a.d.length; j += 7) maxd = Math.max(maxd, Math.abs(a.d[j]! - b.d[j]!));
  }
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[3]!.toFixed(2);
  console.log(
    `B${B} ${s}x${s}x${cin}->${cout} k${k}/${st}: M=${dy.shape[0] * dy.shape[1] * dy.shape[2]} conv ${med(c)} ms, gemm ${med(g)} ms, max|d| ${maxd.toExponential(1)}`,
  );
  tf.dispose([x, w, y, dy]);
}
process.exit(0);
