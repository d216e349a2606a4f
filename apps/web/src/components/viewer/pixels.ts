/**
 * Pixel work for the viewer, done on plain arrays so it stays fast and testable: window/level as a
 * 256-entry lookup table over the 8-bit normalized image, and a colour map for Grad-CAM heatmaps.
 */

/** A decoded image: one grey byte per pixel (the portal serves normalized 8-bit greyscale PNGs). */
export interface GreyImage {
  width: number;
  height: number;
  grey: Uint8ClampedArray;
}

export interface WindowLevel {
  /** Window width in grey levels (1..512). */
  width: number;
  /** Window centre in grey levels (-128..383). */
  level: number;
  invert: boolean;
}

export const DEFAULT_WINDOW: WindowLevel = { width: 256, level: 127.5, invert: false };

export function clampWindow(w: WindowLevel): WindowLevel {
  return {
    width: Math.min(512, Math.max(1, w.width)),
    level: Math.min(383, Math.max(-128, w.level)),
    invert: w.invert,
  };
}

/** grey -> displayed grey for a window: linear inside [level - width/2, level + width/2], clamped. */
export function windowLut(w: WindowLevel): Uint8Array {
  const lut = new Uint8Array(256);
  const lo = w.level - w.width / 2;
  for (let v = 0; v < 256; v++) {
    const t = Math.min(1, Math.max(0, (v - lo) / w.width));
    const out = Math.round(t * 255);
    lut[v] = w.invert ? 255 - out : out;
  }
  return lut;
}

/** Writes the windowed image into `out` (RGBA bytes of an ImageData of the same size). */
export function applyLut(src: GreyImage, lut: Uint8Array, out: Uint8ClampedArray): void {
  const px = new Uint32Array(out.buffer, out.byteOffset, src.width * src.height);
  // 0xAABBGGRR on little-endian machines (every browser we target).
  const table = new Uint32Array(256);
  for (let v = 0; v < 256; v++) {
    const g = lut[v] ?? 0;
    table[v] = (0xff << 24) | (g << 16) | (g << 8) | g;
  }
  const grey = src.grey;
  for (let i = 0; i < px.length; i++) px[i] = table[grey[i] ?? 0] ?? 0;
}

/** Reads an image element's pixels as grey (red channel: the served PNGs are greyscale). */
export function greyOf(img: CanvasImageSource & { width: number; height: number }): GreyImage {
  const width = "naturalWidth" in img ? (img as HTMLImageElement).naturalWidth : img.width;
  const height = "naturalHeight" in img ? (img as HTMLImageElement).naturalHeight : img.height;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new Error("no 2d canvas");
  ctx.drawImage(img, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const grey = new Uint8ClampedArray(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[i * 4] ?? 0;
  return { width, height, grey };
}

/** "Turbo"-like ramp (blue -> cyan -> green -> yellow -> red) for heatmaps; alpha grows with heat. */
function heatColour(t: number): [number, number, number] {
  const stops: [number, number, number, number][] = [
    [0, 48, 18, 59],
    [0.25, 40, 150, 255],
    [0.5, 60, 220, 110],
    [0.75, 250, 200, 40],
    [1, 220, 30, 20],
  ];
  for (let i = 1; i < stops.length; i++) {
    const a = stops[i - 1];
    const b = stops[i];
    if (!a || !b) break;
    if (t <= b[0]) {
      const f = (t - a[0]) / (b[0] - a[0]);
      return [a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f, a[3] + (b[3] - a[3]) * f];
    }
  }
  return [220, 30, 20];
}

/**
 * Colour-maps a grey heatmap into a canvas (cold parts nearly transparent), upsampled smoothly: the
 * model's input is small (often 32-64 px) and its blocks would otherwise hide the anatomy's edges.
 */
export function heatmapCanvas(heat: GreyImage, size = 512): HTMLCanvasElement {
  const small = colourMapped(heat);
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2d canvas");
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(small, 0, 0, size, size);
  return canvas;
}

function colourMapped(heat: GreyImage): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  canvas.width = heat.width;
  canvas.height = heat.height;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2d canvas");
  const data = ctx.createImageData(heat.width, heat.height);
  for (let i = 0; i < heat.grey.length; i++) {
    const v = (heat.grey[i] ?? 0) / 255;
    const [r, g, b] = heatColour(v);
    data.data[i * 4] = r;
    data.data[i * 4 + 1] = g;
    data.data[i * 4 + 2] = b;
    data.data[i * 4 + 3] = Math.round(255 * Math.min(1, 0.15 + v));
  }
  ctx.putImageData(data, 0, 0);
  return canvas;
}
