/** Turning wide-range pixel values (16-bit, rescaled DICOM) into 8-bit grey. Pure functions, tested directly. */

export interface VoiWindow {
  center: number;
  width: number;
}

/** DICOM linear VOI window (PS3.3 C.11.2.1.2.1) into 0..255. */
export function applyWindow(values: ArrayLike<number>, window: VoiWindow, out: Uint8Array): void {
  const c = window.center - 0.5;
  const w = Math.max(window.width - 1, 1e-6);
  const lower = c - w / 2;
  const upper = c + w / 2;
  for (let i = 0; i < values.length; i++) {
    const x = values[i] ?? 0;
    if (x <= lower) out[i] = 0;
    else if (x > upper) out[i] = 255;
    else out[i] = Math.round(((x - c) / w + 0.5) * 255);
  }
}

/** Linear map of [low, high] onto 0..255, clipped. */
export function applyRange(values: ArrayLike<number>, low: number, high: number, out: Uint8Array): void {
  const span = high > low ? high - low : 1;
  for (let i = 0; i < values.length; i++) {
    const v = (((values[i] ?? 0) - low) / span) * 255;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
}

/**
 * Low and high percentiles (fractions, e.g. 0.005 and 0.995) of the values, from a histogram of at most
 * 65,536 bins over [min, max]: exact for integer data spanning up to 65,536 values.
 */
export function percentileRange(
  values: ArrayLike<number>,
  lowFraction: number,
  highFraction: number,
): { low: number; high: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0 || max <= min) return { low: min, high: max };
  const bins = Math.min(65536, Math.floor(max - min) + 1);
  const scale = (bins - 1) / (max - min);
  const hist = new Uint32Array(bins);
  for (let i = 0; i < values.length; i++) hist[Math.round(((values[i] ?? 0) - min) * scale)]! += 1;
  const at = (fraction: number): number => {
    const target = fraction * (values.length - 1);
    let seen = 0;
    for (let b = 0; b < bins; b++) {
      seen += hist[b]!;
      if (seen > target) return min + b / scale;
    }
    return max;
  };
  return { low: at(lowFraction), high: at(highFraction) };
}

export function invert(pixels: Uint8Array): void {
  for (let i = 0; i < pixels.length; i++) pixels[i] = 255 - pixels[i]!;
}

/** ITU-R BT.601 luma of component-interleaved (planar = false) or planar RGB samples. */
export function rgbToLuma(samples: ArrayLike<number>, pixelCount: number, planar: boolean): Float32Array {
  const out = new Float32Array(pixelCount);
  for (let i = 0; i < pixelCount; i++) {
    const r = planar ? samples[i] : samples[3 * i];
    const g = planar ? samples[pixelCount + i] : samples[3 * i + 1];
    const b = planar ? samples[2 * pixelCount + i] : samples[3 * i + 2];
    out[i] = 0.299 * (r ?? 0) + 0.587 * (g ?? 0) + 0.114 * (b ?? 0);
  }
  return out;
}
