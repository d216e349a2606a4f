/**
 * Child process of threads.test.ts: starts the wasm backend with the thread count of
 * XRAY_TF_THREADS, prints the start-up detail and a conv2d result, and returns WITHOUT calling
 * process.exit (the test checks that the pool's workers do not keep it alive).
 */
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./index";

const info = await initBackend({ prefer: "wasm", log: () => {} });
const x = tf.tensor4d(
  Float32Array.from({ length: 2 * 9 * 9 * 3 }, (_, i) => Math.sin(i)),
  [2, 9, 9, 3],
);
const w = tf.tensor4d(
  Float32Array.from({ length: 3 * 3 * 3 * 8 }, (_, i) => Math.cos(i)),
  [3, 3, 3, 8],
);
const y = tf.conv2d(x, w, 1, "same");
process.stdout.write(`${JSON.stringify({ detail: info.detail, values: Array.from(y.dataSync()) })}\n`);
