// The same seeded pipelines on the cpu and wasm backends give the same images. This checks the
// cpu per-image Transform workaround against wasm's batched kernel, and that every op used exists
// on both backends.
import { createRequire } from "node:module";
import path from "node:path";
import "@tensorflow/tfjs-backend-cpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { createRng, equalize, sslView, strongAugment, weakAugment } from "./index";

const wasmDir = `${path.dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm"))}/`;

function images(): tf.Tensor4D {
  const rng = createRng(77);
  const n = 4;
  const s = 20;
  const data = new Float32Array(n * s * s);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++)
        data[b * s * s + y * s + x] = Math.min(1, 0.2 + 0.03 * x + 0.01 * y + 0.1 * rng.next());
  return tf.tensor4d(data, [n, s, s, 1]);
}

async function runAll(backend: string): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  await tf.ready();
  expect(tf.getBackend()).toBe(backend);
  const x = images();
  const outs = [
    weakAugment(x, createRng(1)),
    strongAugment(x, createRng(2), { n: 3 }),
    strongAugment(x, createRng(3), { ops: ["rotate", "shearX", "equalize", "posterize", "solarize"], n: 2 }),
    sslView(x, createRng(4)),
    sslView(x, createRng(5), { outputSize: [12, 12] }),
    equalize(x, [true, false, true, true]),
  ];
  const arrays = outs.map((o) => o.dataSync() as Float32Array);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++)
    tf.dispose([weakAugment(x, createRng(i)), strongAugment(x, createRng(i)), sslView(x, createRng(i))]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([x, ...outs]);
  return arrays;
}

describe("augmentations on cpu and wasm", () => {
  it("agree image for image", async () => {
    setWasmPaths(wasmDir);
    await import("@tensorflow/tfjs-backend-wasm");
    const cpu = await runAll("cpu");
    const wasm = await runAll("wasm");
    for (const [i, a] of cpu.entries()) {
      const b = wasm[i] as Float32Array;
      expect(b.length).toBe(a.length);
      let maxDiff = 0;
      for (let k = 0; k < a.length; k++)
        maxDiff = Math.max(maxDiff, Math.abs((a[k] as number) - (b[k] as number)));
      // Posterize/equalize floor values at 8-bit level edges, where float rounding may differ by one level.
      expect(maxDiff, `pipeline ${i}`).toBeLessThan(i === 2 || i === 5 ? 1.01 / 16 : 1e-4);
    }
  });
});
