/**
 * Child process of threads.test.ts: starts the wasm backend with the thread count of
 * XRAY_TF_THREADS, prints the start-up detail, a conv2d result and how far the project's 3x3 loop
 * (with its helper threads when threaded) is from tf.conv2d, and returns WITHOUT calling
 * process.exit (the test checks that neither pool's workers keep it alive).
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  convSimd,
  convSimdHelperRows,
  convSimdHelperThreads,
  convWinogradRuns,
  maxPoolSimd,
  packConvFilter,
  packWinogradFilter,
} from "./conv-simd";
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
// The loop on an 8-wide map (stride 1: 2 x 9 output rows; stride 2: 2 x 5), 3 -> 8 channels.
const x8 = tf.slice(x, [0, 0, 0, 0], [2, 9, 8, 3]);
const packed = tf.tensor1d(packConvFilter(w.dataSync() as Float32Array, 3, 3, 8));
const bias = tf.zeros([8]) as tf.Tensor1D;
let loopError = 0;
for (const stride of [1, 2]) {
  const got = convSimd(x8, packed, bias, false, stride).dataSync();
  const want = tf.conv2d(x8, w, stride, "same").dataSync();
  for (let i = 0; i < want.length; i++)
    loopError = Math.max(loopError, Math.abs((got[i] ?? 0) - (want[i] ?? 0)));
}
// Bordered maps and a residual (what the fused plan passes), split over the helpers the same way.
{
  const xB = tf.pad(x8, [
    [0, 0],
    [1, 1],
    [1, 1],
    [0, 0],
  ]) as tf.Tensor4D;
  const res = tf.tensor4d(
    Float32Array.from({ length: 2 * 9 * 8 * 8 }, (_, i) => Math.sin(3 * i)),
    [2, 9, 8, 8],
  );
  const resB = tf.pad(
    res,
    [
      [0, 0],
      [2, 2],
      [2, 2],
      [0, 0],
    ],
    5,
  ) as tf.Tensor4D;
  const got = convSimd(xB, packed, bias, true, 1, 3, { inPad: 1, outPad: 1, residual: resB, resPad: 2 });
  const inner = tf.slice(got, [0, 1, 1, 0], [2, 9, 8, 8]).dataSync();
  const want = tf.relu(tf.add(tf.conv2d(x8, w, 1, "same"), res)).dataSync();
  for (let i = 0; i < want.length; i++)
    loopError = Math.max(loopError, Math.abs((inner[i] ?? 0) - (want[i] ?? 0)));
  const border = (tf.sub(got.abs().sum(), tf.tensor(inner).abs().sum()).dataSync()[0] ?? 1) / 100;
  loopError = Math.max(loopError, Math.abs(border));
}
// A projection shortcut summed in (1 x 1 / 2 of a 17 x 16 map onto the 9 x 8 output).
{
  const sx = tf.tensor4d(
    Float32Array.from({ length: 2 * 17 * 16 * 4 }, (_, i) => Math.cos(5 * i)),
    [2, 17, 16, 4],
  );
  const fs = Float32Array.from({ length: 4 * 8 }, (_, i) => Math.sin(7 * i));
  const packedS = tf.tensor1d(packConvFilter(fs, 1, 4, 8));
  const got = convSimd(x8, packed, bias, false, 1, 3, {
    shortcut: { x: sx, packed: packedS, stride: 2 },
  }).dataSync();
  const want = tf
    .add(tf.conv2d(x8, w, 1, "same"), tf.conv2d(sx, tf.tensor4d(fs, [1, 1, 4, 8]), 2, "same"))
    .dataSync();
  for (let i = 0; i < want.length; i++)
    loopError = Math.max(loopError, Math.abs((got[i] ?? 0) - (want[i] ?? 0)));
}
// The max-pool loop (its rows split the same way) on a non-negative bordered map.
{
  const pos = tf.relu(tf.tile(x8, [1, 1, 1, 4])) as tf.Tensor4D; // 12 channels
  const got = maxPoolSimd(
    tf.pad(pos, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]) as tf.Tensor4D,
    3,
    2,
    1,
  ).dataSync();
  const want = tf.maxPool(pos, 3, 2, "same").dataSync();
  for (let i = 0; i < want.length; i++)
    loopError = Math.max(loopError, Math.abs((got[i] ?? 0) - (want[i] ?? 0)));
  if (got.length !== want.length) loopError = 1;
}
// A layer large enough that the helper claims rows while the caller works through its own.
{
  const big = tf.randomUniform([4, 64, 64, 16], -1, 1, "float32", 3) as tf.Tensor4D;
  const fw = tf.randomUniform([3, 3, 16, 16], -1, 1, "float32", 4) as tf.Tensor4D;
  const pk = tf.tensor1d(packConvFilter(fw.dataSync() as Float32Array, 3, 16, 16));
  const b16 = tf.zeros([16]) as tf.Tensor1D;
  for (let rep = 0; rep < 3; rep++) {
    const got = convSimd(big, pk, b16, false).dataSync();
    const want = tf.conv2d(big, fw, 1, "same").dataSync();
    for (let i = 0; i < want.length; i++)
      loopError = Math.max(loopError, Math.abs((got[i] ?? 0) - (want[i] ?? 0)) / 10);
  }
  // The same layer as Winograd F(2 x 2, 3 x 3): each thread must keep to its own scratch, and the
  // shortcut pass after it splits too (1 x 1 / 2 of a 128 x 128 map).
  const wino = tf.tensor1d(packWinogradFilter(fw.dataSync() as Float32Array, 16, 16));
  const sx = tf.randomUniform([4, 128, 128, 8], -1, 1, "float32", 5) as tf.Tensor4D;
  const fs = tf.randomUniform([1, 1, 8, 16], -1, 1, "float32", 6) as tf.Tensor4D;
  const pkS = tf.tensor1d(packConvFilter(fs.dataSync() as Float32Array, 1, 8, 16));
  const runs = convWinogradRuns();
  for (let rep = 0; rep < 3; rep++) {
    const got = convSimd(big, pk, b16, true, 1, 3, {
      winograd: wino,
      shortcut: { x: sx, packed: pkS, stride: 2 },
    }).dataSync();
    const want = tf.relu(tf.add(tf.conv2d(big, fw, 1, "same"), tf.conv2d(sx, fs, 2, "same"))).dataSync();
    for (let i = 0; i < want.length; i++)
      loopError = Math.max(loopError, Math.abs((got[i] ?? 0) - (want[i] ?? 0)) / 10);
  }
  if (convWinogradRuns() !== runs + 3) loopError = 1;
}
process.stdout.write(
  `${JSON.stringify({ detail: info.detail, values: Array.from(y.dataSync()), loopError, helpers: convSimdHelperThreads(), helperRows: convSimdHelperRows() })}\n`,
);
