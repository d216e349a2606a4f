import * as tf from "@tensorflow/tfjs-core";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { weakAugment } from "../augment/index.js";
import { initBackend } from "../backend/index.js";
import { imageBatch } from "../data/image-set.js";
import { labelMatrixFromColumns, squaresDataset } from "../data/synthetic.js";
import { predictImages } from "../fixmatch/predict.js";
import { fitClassifier } from "../fixmatch/trainer.js";
import { buildClassifier } from "../models/resnet.js";
import { gradCam, heatmapOverlayPng } from "./index.js";

beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
});

describe("Grad-CAM", () => {
  it("peaks on the bright square that decides the class", async () => {
    const size = 16;
    const train = squaresDataset(64, size, 3, { square: 5 });
    const net = buildClassifier({
      encoder: { inputSize: size, width: 8, blocks: [1, 1] },
      schema: { gate: { key: "square", name: "Square" }, findings: [] },
      dropout: 0,
    });
    const labels = labelMatrixFromColumns(["square"], [train.labels]);
    await fitClassifier({
      config: {
        seed: 4,
        epochs: 6,
        batchSize: 16,
        lr: 5e-3,
        fixmatch: { enabled: false },
        ema: { enabled: false },
      },
      net,
      labelled: { images: train.images, labels },
      augment: { weak: (x, rng) => weakAugment(x, rng, { maxTranslate: 0.1 }), strong: (x) => x.clone() },
    });
    // The model separates the classes first (otherwise a heatmap means nothing).
    const test = squaresDataset(16, size, 99, { square: 5 });
    const p = await predictImages(net, test.images);
    const pos = test.labels.flatMap((y, i) => (y === 1 ? [p.probs[i] ?? 0] : []));
    const neg = test.labels.flatMap((y, i) => (y === 0 ? [p.probs[i] ?? 0] : []));
    expect(Math.min(...pos)).toBeGreaterThan(Math.max(...neg));

    const before = tf.memory().numTensors;
    let argmaxInside = 0;
    let positives = 0;
    for (let i = 0; i < test.images.count; i++) {
      const box = test.boxes[i];
      if (!box) continue;
      positives++;
      const x = imageBatch(test.images, [i]);
      const cam = await gradCam(net, x, "square");
      x.dispose();
      expect(cam.heatmap.length).toBe(size * size);
      let inside = 0;
      let nIn = 0;
      let outside = 0;
      let nOut = 0;
      let best = -1;
      let bestIdx = 0;
      cam.heatmap.forEach((v, j) => {
        const px = j % size;
        const py = Math.floor(j / size);
        const isIn = px >= box.x && px < box.x + box.s && py >= box.y && py < box.y + box.s;
        if (isIn) {
          inside += v;
          nIn++;
        } else {
          outside += v;
          nOut++;
        }
        if (v > best) {
          best = v;
          bestIdx = j;
        }
      });
      const bx = bestIdx % size;
      const by = Math.floor(bestIdx / size);
      // One pixel of slack for the bilinear upsampling of an 8x8 map.
      if (bx >= box.x - 1 && bx <= box.x + box.s && by >= box.y - 1 && by <= box.y + box.s) argmaxInside++;
      expect(inside / nIn).toBeGreaterThan(2 * (outside / nOut));
    }
    expect(positives).toBeGreaterThan(3);
    expect(argmaxInside / positives).toBeGreaterThanOrEqual(0.8);
    expect(tf.memory().numTensors).toBe(before);

    const i0 = test.boxes.findIndex((b) => b !== null);
    const x0 = imageBatch(test.images, [i0]);
    const cam0 = await gradCam(net, x0, 0);
    x0.dispose();
    const png = await heatmapOverlayPng(
      test.images.pixels.subarray(i0 * size * size, (i0 + 1) * size * size),
      cam0.heatmap,
      size,
      {
        outSize: 96,
      },
    );
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe("png");
    expect(meta.width).toBe(96);
    expect(meta.channels).toBe(3);
    net.full.dispose();
  }, 600_000);
});
