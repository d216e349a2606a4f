/**
 * Decoded images by URL, so the next image (prefetched while the current one is read) draws at once.
 * Image URLs are content-addressed and cached by the browser; this keeps the decoded pixels too.
 */
import { type GreyImage, greyOf } from "./pixels";

const MAX_ENTRIES = 12;
const cache = new Map<string, Promise<GreyImage>>();
const ready = new Map<string, GreyImage>();

function load(url: string): Promise<GreyImage> {
  return new Promise<HTMLImageElement>((resolve, reject) => {
    const img = new Image();
    img.decoding = "async";
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`could not load ${url}`));
    img.src = url;
  }).then((img) => greyOf(img));
}

/** The decoded image (loading it once); a failed load is forgotten so that a retry loads again. */
export function loadGrey(url: string): Promise<GreyImage> {
  const hit = cache.get(url);
  if (hit) {
    cache.delete(url);
    cache.set(url, hit);
    return hit;
  }
  const p = load(url).then(
    (g) => {
      ready.set(url, g);
      return g;
    },
    (err: unknown) => {
      cache.delete(url);
      throw err;
    },
  );
  cache.set(url, p);
  while (cache.size > MAX_ENTRIES) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    cache.delete(oldest);
    ready.delete(oldest);
  }
  return p;
}

/** Already decoded: drawn synchronously, with no thumbnail step. */
export function readyGrey(url: string): GreyImage | undefined {
  return cache.has(url) ? ready.get(url) : undefined;
}

/** Starts loading without waiting (errors are left for the real load to report). */
export function prefetchGrey(url: string): void {
  loadGrey(url).catch(() => {});
}

export const fullUrl = (imageId: string) => `/api/images/${imageId}/full`;
export const thumbUrl = (imageId: string) => `/api/images/${imageId}/thumb`;
