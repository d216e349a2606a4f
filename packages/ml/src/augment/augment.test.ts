import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  affine,
  affineCoefficients,
  autocontrast,
  brightness,
  contrast,
  createRng,
  cropResize,
  cutout,
  equalize,
  gamma,
  gaussianBlur,
  gaussianNoise,
  onSubset,
  posterize,
  sharpness,
  solarize,
  sslView,
  strongAugment,
  weakAugment,
} from "./index";

beforeAll(async () => {
  await tf.setBackend("cpu");
  await tf.ready();
});

/** [n, size, size, 1] dark images (0.1) with a bright (0.9) square of side `side` at (top, left). */
function squareImages(n: number, size: number, top: number, left: number, side: number): tf.Tensor4D {
  const data = new Float32Array(n * size * size).fill(0.1);
  for (let b = 0; b < n; b++)
    for (let y = top; y < top + side; y++)
      for (let x = left; x < left + side; x++) data[b * size * size + y * size + x] = 0.9;
  return tf.tensor4d(data, [n, size, size, 1]);
}

function randomImages(seed: number, n: number, h: number, w: number): tf.Tensor4D {
  const rng = createRng(seed);
  return tf.tensor4d(
    Float32Array.from({ length: n * h * w }, () => rng.next()),
    [n, h, w, 1],
  );
}

/** Intensity-weighted centroid (row, col) of the bright pixels (> 0.5) of image b. */
function brightCentroid(x: tf.Tensor4D, b: number): [number, number] {
  const [, h, w] = x.shape;
  const d = x.dataSync();
  let sy = 0;
  let sx = 0;
  let m = 0;
  for (let y = 0; y < h; y++)
    for (let c = 0; c < w; c++) {
      const v = d[b * h * w + y * w + c] as number;
      if (v > 0.5) {
        sy += y;
        sx += c;
        m++;
      }
    }
  return [sy / m, sx / m];
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

describe("createRng", () => {
  it("is deterministic, resumable and in range", () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(xs);
    expect(xs.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(Math.abs(xs.reduce((s, v) => s + v, 0) / 1000 - 0.5)).toBeLessThan(0.05);
    expect(createRng(43).next()).not.toBe(createRng(42).next());
    const c = createRng(7);
    c.next();
    const state = c.getState();
    const next3 = [c.next(), c.next(), c.next()];
    c.setState(state);
    expect([c.next(), c.next(), c.next()]).toEqual(next3);
    const ints = Array.from({ length: 500 }, () => c.int(2, 4));
    expect(new Set(ints)).toEqual(new Set([2, 3, 4]));
    expect(() => createRng(Number.NaN)).toThrow(RangeError);
  });
});

describe("ops", () => {
  it("affine coefficients: identity and flip", () => {
    expect(affineCoefficients({}, 5, 7).map((v) => Math.round(v * 1e9) / 1e9 + 0)).toEqual([
      1, 0, 0, 0, 1, 0, 0, 0,
    ]);
    expect(affineCoefficients({ flip: true }, 5, 7).map((v) => Math.round(v * 1e9) / 1e9 + 0)).toEqual([
      -1, 0, 6, 0, 1, 0, 0, 0,
    ]);
  });

  it("flip mirrors, integer translation shifts, 90 degrees rotates, per image in a batch", () => {
    const x = randomImages(1, 3, 6, 6);
    const y = affine(x, [{ flip: true }, { tx: 2, ty: -1 }, { rotate: Math.PI / 2 }], "constant", 0);
    const [x0, x1, x2] = tf.split(x, 3, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const [y0, y1, y2] = tf.split(y, 3, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    expect(maxAbsDiff(y0, tf.reverse(x0, 2))).toBeLessThan(1e-6);
    // content moves 2 right and 1 up; uncovered pixels are 0
    const a = x1.arraySync()[0] as number[][][];
    const b = y1.arraySync()[0] as number[][][];
    for (let r = 0; r < 6; r++)
      for (let c = 0; c < 6; c++) {
        const sr = r + 1;
        const sc = c - 2;
        const expected = sr < 6 && sc >= 0 ? ((a[sr] as number[][])[sc] as number[])[0] : 0;
        expect(((b[r] as number[][])[c] as number[])[0]).toBeCloseTo(expected as number, 5);
      }
    // out[r][c] = in[W-1-c][r]
    const i2 = x2.arraySync()[0] as number[][][];
    const o2 = y2.arraySync()[0] as number[][][];
    for (let r = 0; r < 6; r++)
      for (let c = 0; c < 6; c++)
        expect(((o2[r] as number[][])[c] as number[])[0]).toBeCloseTo(
          ((i2[5 - c] as number[][])[r] as number[])[0] as number,
          5,
        );
    tf.dispose([x, y, x0, x1, x2, y0, y1, y2]);
  });

  it("reflect fill mirrors about the edge ([dcba|abcd]) rather than wrapping", () => {
    const x = tf.tensor4d([0, 1, 2, 3, 4, 10, 11, 12, 13, 14], [2, 1, 5, 1]);
    const y = affine(x, [{ tx: 2 }, { tx: -2 }], "reflect");
    expect(Array.from(y.dataSync()).map((v) => Math.round(v * 1e4) / 1e4)).toEqual([
      1, 0, 0, 1, 2, 12, 13, 14, 14, 13,
    ]);
    tf.dispose([x, y]);
  });

  it("photometric ops apply their own parameter to each image", () => {
    const x = tf.tensor4d([0.2, 0.4, 0.6, 0.8, 0.2, 0.4, 0.6, 0.8], [2, 2, 2, 1]);
    expect(Array.from(brightness(x, [0.1, -0.3]).dataSync()).map((v) => +v.toFixed(5))).toEqual([
      0.3, 0.5, 0.7, 0.9, 0, 0.1, 0.3, 0.5,
    ]);
    expect(Array.from(contrast(x, [1, 2]).dataSync()).map((v) => +v.toFixed(5))).toEqual([
      0.2, 0.4, 0.6, 0.8, 0, 0.3, 0.7, 1,
    ]);
    expect(gamma(x, [1, 2]).dataSync()[4]).toBeCloseTo(0.04, 6);
    expect(Array.from(solarize(x, [0.5, 2]).dataSync()).map((v) => +v.toFixed(5))).toEqual([
      0.2, 0.4, 0.4, 0.2, 0.2, 0.4, 0.6, 0.8,
    ]);
    const post = posterize(x, [4, null]).dataSync();
    for (let i = 0; i < 4; i++)
      expect(
        Math.abs(((post[i] as number) * 255) / 16 - Math.round(((post[i] as number) * 255) / 16)),
      ).toBeLessThan(1e-3);
    expect(post[5]).toBeCloseTo(0.4, 6);
    const ac = autocontrast(x, [true, false]).dataSync();
    expect([ac[0], ac[3], ac[4]].map((v) => +(v as number).toFixed(5))).toEqual([0, 1, 0.2]);
    tf.dispose(x);
  });

  it("onSubset applies an op to the flagged images only, keeping batch order", () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5], [5, 1, 1, 1]);
    const seen: number[][] = [];
    const y = onSubset(x, [true, false, false, true, true], (s, idx) => {
      seen.push(idx);
      return tf.mul(s, 10) as tf.Tensor4D;
    });
    expect(Array.from(y.dataSync())).toEqual([10, 2, 3, 40, 50]);
    expect(seen).toEqual([[0, 3, 4]]);
    const none = onSubset(x, [false, false, false, false, false], () => {
      throw new Error("not called");
    });
    expect(Array.from(none.dataSync())).toEqual([1, 2, 3, 4, 5]);
    tf.dispose([x, y, none]);
  });

  it("equalize spreads a low-contrast histogram, keeps order and leaves flat images alone", () => {
    const rng = createRng(3);
    const vals = Float32Array.from({ length: 64 }, () => Math.round((0.4 + 0.1 * rng.next()) * 255) / 255);
    const x = tf.concat([tf.tensor4d(vals, [1, 8, 8, 1]), tf.fill([1, 8, 8, 1], 0.3)]) as tf.Tensor4D;
    const y = equalize(x, [true, true]);
    const d = y.dataSync();
    const first = Array.from(d.slice(0, 64));
    expect(Math.min(...first)).toBeCloseTo(0, 6);
    expect(Math.max(...first)).toBeCloseTo(1, 6);
    for (let i = 0; i < 64; i++)
      for (let j = 0; j < 64; j++)
        if ((vals[i] as number) < (vals[j] as number)) expect(first[i]).toBeLessThan(first[j] as number);
    expect(Array.from(d.slice(64)).every((v) => Math.abs(v - 0.3) < 1e-6)).toBe(true);
    tf.dispose([x, y]);
  });

  it("cutout zeroes exactly its patch", () => {
    const x = tf.fill([2, 8, 8, 1], 0.7) as tf.Tensor4D;
    const y = cutout(x, [{ y: 2, x: 3, height: 3, width: 2 }, null]);
    const d = y.dataSync();
    for (let r = 0; r < 8; r++)
      for (let c = 0; c < 8; c++) {
        const inside = r >= 2 && r < 5 && c >= 3 && c < 5;
        expect(d[r * 8 + c]).toBeCloseTo(inside ? 0 : 0.7, 6);
        expect(d[64 + r * 8 + c]).toBeCloseTo(0.7, 6);
      }
    tf.dispose([x, y]);
  });

  it("sharpness, blur and noise behave as named", () => {
    const x = randomImages(5, 2, 16, 16);
    expect(maxAbsDiff(sharpness(x, [1, 1]), x)).toBeLessThan(1e-6);
    const flat = tf.fill([1, 16, 16, 1], 0.4) as tf.Tensor4D;
    expect(maxAbsDiff(sharpness(flat, [0]), flat)).toBeLessThan(1e-6);
    expect(maxAbsDiff(gaussianBlur(flat, [1.5]), flat)).toBeLessThan(1e-6);
    const blurred = gaussianBlur(x, [0, 1.5]);
    const [b0, b1] = tf.split(blurred, 2, 0);
    const [x0, x1] = tf.split(x, 2, 0);
    expect(maxAbsDiff(b0 as tf.Tensor, x0 as tf.Tensor)).toBe(0);
    const variance = (t: tf.Tensor) => tf.moments(t).variance.dataSync()[0] as number;
    expect(variance(b1 as tf.Tensor)).toBeLessThan(variance(x1 as tf.Tensor) / 3);
    const mid = tf.fill([1, 32, 32, 1], 0.5) as tf.Tensor4D;
    const n1 = gaussianNoise(mid, [0.05], 11);
    const n2 = gaussianNoise(mid, [0.05], 11);
    expect(maxAbsDiff(n1, n2)).toBe(0);
    // Seed 0 is a seed like any other (TF.js alone would read it as "unseeded").
    expect(maxAbsDiff(gaussianNoise(mid, [0.05], 0), gaussianNoise(mid, [0.05], 0))).toBe(0);
    expect(Math.sqrt(variance(n1))).toBeCloseTo(0.05, 2);
    expect(
      maxAbsDiff(
        cropResize(
          x,
          [
            { y1: 0, x1: 0, y2: 1, x2: 1 },
            { y1: 0, x1: 0, y2: 1, x2: 1 },
          ],
          16,
          16,
        ),
        x,
      ),
    ).toBeLessThan(1e-5);
  });
});

describe("pipelines", () => {
  it("are deterministic per seed, differ across seeds and per image, keep shape and range", () => {
    const x = tf.tidy(() => tf.tile(randomImages(2, 1, 24, 24), [4, 1, 1, 1]) as tf.Tensor4D);
    for (const fn of [weakAugment, strongAugment, sslView]) {
      const a = fn(x, createRng(1));
      const b = fn(x, createRng(1));
      const c = fn(x, createRng(2));
      expect(a.shape).toEqual([4, 24, 24, 1]);
      expect(maxAbsDiff(a, b)).toBe(0);
      expect(maxAbsDiff(a, c)).toBeGreaterThan(0.01);
      const [lo, hi] = [tf.min(a).dataSync()[0] as number, tf.max(a).dataSync()[0] as number];
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
      // the four input images are identical, the views are not
      const parts = tf.split(a, 4, 0);
      expect(
        maxAbsDiff(parts[0] as tf.Tensor, parts[1] as tf.Tensor) +
          maxAbsDiff(parts[2] as tf.Tensor, parts[3] as tf.Tensor),
      ).toBeGreaterThan(0.01);
      tf.dispose([a, b, c, ...parts]);
    }
    tf.dispose(x);
  });

  it("weak views keep a bright square roughly in place", () => {
    const x = squareImages(16, 32, 6, 8, 8);
    const y = weakAugment(x, createRng(3), { flip: false });
    const [cy0, cx0] = brightCentroid(x, 0);
    for (let b = 0; b < 16; b++) {
      const [cy, cx] = brightCentroid(y, b);
      expect(Math.abs(cy - cy0)).toBeLessThanOrEqual(0.125 * 32 + 0.5);
      expect(Math.abs(cx - cx0)).toBeLessThanOrEqual(0.125 * 32 + 0.5);
    }
    const f = weakAugment(x, createRng(4));
    for (let b = 0; b < 16; b++) {
      const [, cx] = brightCentroid(f, b);
      // flipped or not, the square stays near its column or its mirror column
      expect(Math.min(Math.abs(cx - cx0), Math.abs(cx - (31 - cx0)))).toBeLessThanOrEqual(0.125 * 32 + 0.5);
    }
    tf.dispose([x, y, f]);
  });

  it("strong views are bounded: magnitude 0 with only geometric ops is the identity; cutout is a zero patch", () => {
    const x = randomImages(8, 4, 20, 20);
    const same = strongAugment(x, createRng(5), {
      magnitude: 0,
      cutout: 0,
      flip: false,
      ops: ["rotate", "shearX", "translateY", "brightness"],
    });
    expect(maxAbsDiff(same, x)).toBeLessThan(1e-5);
    const positive = tf.tidy(() => tf.add(tf.mul(x, 0.5), 0.25) as tf.Tensor4D);
    const cut = strongAugment(positive, createRng(6), { n: 1, ops: ["identity"], flip: false, cutout: 0.25 });
    const d = cut.dataSync();
    for (let b = 0; b < 4; b++) {
      const zeros = Array.from(d.slice(b * 400, (b + 1) * 400)).filter((v) => v === 0).length;
      expect(zeros).toBeLessThanOrEqual(25);
    }
    expect(Array.from(d).filter((v) => v === 0).length).toBeGreaterThan(0);
    const strong = strongAugment(x, createRng(7));
    expect(maxAbsDiff(strong, x)).toBeGreaterThan(0.05);
    tf.dispose([x, same, positive, cut, strong]);
  });

  it("SSL views: full crop with everything off is the identity; outputSize is honoured", () => {
    const x = randomImages(9, 3, 16, 16);
    const id = sslView(x, createRng(1), {
      scale: [1, 1],
      ratio: [1, 1],
      flip: false,
      maxRotate: 0,
      colorJitter: 0,
      blur: 0,
      noise: 0,
    });
    expect(maxAbsDiff(id, x)).toBeLessThan(1e-5);
    const small = sslView(x, createRng(1), { outputSize: [8, 12] });
    expect(small.shape).toEqual([3, 8, 12, 1]);
    tf.dispose([x, id, small]);
  });

  it("leak no tensors across repeated calls", () => {
    const x = randomImages(10, 4, 16, 16);
    const rng = createRng(0);
    // warm-up (kernels may cache)
    tf.dispose([weakAugment(x, rng), strongAugment(x, rng), sslView(x, rng)]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      tf.dispose(weakAugment(x, rng));
      tf.dispose(strongAugment(x, rng, { n: 3 }));
      tf.dispose(sslView(x, rng));
      tf.dispose(equalize(x, [true, false, true, false]));
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(x);
  });
});
