/**
 * Decoded images by URL, so the next image (prefetched while the current one is read) draws at once.
 * Image URLs are content-addressed and cached by the browser; this keeps the decoded pixels too.
 */
import { type GreyImage, greyOf } from "./pixels";

const MAX_ENTRIES = 12;
const cache = new Map<string, Promise<GreyImage>>();
const ready = new Map<string, GreyImage>();

/**
 * Why an image URL did not load, in words for the reader: an <img> error carries no status, so the
 * server's answer is asked for once more (a missing stored file is a 404 with a plain-text reason).
 */
async function loadFailure(url: string): Promise<Error> {
  try {
    const res = await fetch(url, { cache: "no-store" });
    if (res.ok) return new Error("the image could not be decoded");
    const reason = (await res.text()).trim().slice(0, 200);
    return new Error(`the image cannot be shown: ${reason || res.statusText} (HTTP ${res.status})`);
  } catch {
    return new Error("the image cannot be shown: the server could not be reached");
  }
}

function load(url: string): Promise<GreyImage> {
  return new Promise<HTMLImageElement>((resolve, reject) => {
    const img = new Image();
    img.decoding = "async";
    img.onload = () => resolve(img);
    img.onerror = () => void loadFailure(url).then(reject);
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
