import type { ImageSet, LabelMatrix } from "./image-set.js";

/**
 * Synthetic grey images for tests and demos: noisy background; positives carry a bright square at
 * a random position, negatives none. Returns the square boxes so tests can check where a model looks.
 */
export function squaresDataset(
  count: number,
  size: number,
  seed: number,
  opts: { square?: number; positiveRate?: number } = {},
): { images: ImageSet; labels: number[]; boxes: ({ x: number; y: number; s: number } | null)[] } {
  let s = seed >>> 0 || 1;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const sq = opts.square ?? Math.max(3, Math.round(size / 5));
  const pixels = new Uint8Array(count * size * size);
  const labels: number[] = [];
  const boxes: ({ x: number; y: number; s: number } | null)[] = [];
  for (let i = 0; i < count; i++) {
    const base = i * size * size;
    for (let j = 0; j < size * size; j++) pixels[base + j] = Math.round(60 + rand() * 60);
    const positive = rand() < (opts.positiveRate ?? 0.5);
    labels.push(positive ? 1 : 0);
    if (positive) {
      const x = Math.floor(rand() * (size - sq));
      const y = Math.floor(rand() * (size - sq));
      for (let yy = y; yy < y + sq; yy++)
        for (let xx = x; xx < x + sq; xx++) pixels[base + yy * size + xx] = 240;
      boxes.push({ x, y, s: sq });
    } else boxes.push(null);
  }
  return { images: { count, size, pixels }, labels, boxes };
}

export function labelMatrixFromColumns(heads: string[], columns: number[][]): LabelMatrix {
  const n = columns[0]?.length ?? 0;
  const values = new Float32Array(n * heads.length);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < heads.length; k++) values[i * heads.length + k] = columns[k]?.[i] ?? Number.NaN;
  return { heads, values };
}
