import { describe, expect, it } from "vitest";
import { type KneeRow, kneeSplit } from "./knee.js";

describe("kneeSplit", () => {
  it("keeps one split's rows and their images, in dataset order", () => {
    const row = (i: number, split: string): KneeRow => ({
      path: `${i}.png`,
      split,
      kl_grade: i % 5,
      oa_kl_ge2: i % 5 >= 2 ? 1 : 0,
      patient_id: `p${i}`,
      side: "L",
    });
    const splits = ["train", "val", "train", "test", "val"];
    // 2 x 2 images whose every pixel is the image's index.
    const images = {
      count: 5,
      size: 2,
      pixels: Uint8Array.from({ length: 20 }, (_, j) => Math.floor(j / 4)),
    };
    const val = kneeSplit({ rows: splits.map((s, i) => row(i, s)), images }, "val");
    expect(val.rows.map((r) => r.path)).toEqual(["1.png", "4.png"]);
    expect(val.images.count).toBe(2);
    expect(Array.from(val.images.pixels)).toEqual([1, 1, 1, 1, 4, 4, 4, 4]);
    expect(kneeSplit({ rows: splits.map((s, i) => row(i, s)), images }, "none").images.count).toBe(0);
  });
});
