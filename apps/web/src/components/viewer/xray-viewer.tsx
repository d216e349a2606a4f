"use client";

import type Konva from "konva";
import { type Ref, useCallback, useEffect, useImperativeHandle, useRef, useState } from "react";
import { fullUrl, loadGrey, readyGrey, thumbUrl } from "./image-cache";
import {
  applyLut,
  clampWindow,
  DEFAULT_WINDOW,
  type GreyImage,
  greyOf,
  heatmapCanvas,
  type WindowLevel,
  windowLut,
} from "./pixels";

export interface ViewerImage {
  id: string;
  /** Full-resolution size: the thumbnail is stretched to it until the full image arrives. */
  width: number;
  height: number;
}

export interface ViewerHeatmap {
  url: string;
  opacity: number;
  visible: boolean;
}

/** What the keyboard handler of the page drives. */
export interface ViewerHandle {
  zoomBy(factor: number): void;
  fit(): void;
  oneToOne(): void;
  reset(): void;
  toggleInvert(): void;
  /** Window width and level change, in grey levels. */
  windowBy(dWidth: number, dLevel: number): void;
  panBy(dx: number, dy: number): void;
}

interface ViewState {
  scale: number;
  x: number;
  y: number;
  fitted: boolean;
}

interface KonvaParts {
  stage: Konva.Stage;
  layer: Konva.Layer;
  group: Konva.Group;
  image: Konva.Image;
  heat: Konva.Image;
}

/** Background: not grey, so a test can tell image pixels (r = g = b) from the background. */
const BACKGROUND = "#0a0e1e";
const MIN_SCALE = 0.05;
const MAX_SCALE = 40;

export function XrayViewer({
  image,
  heatmap,
  ref,
}: {
  image: ViewerImage | null;
  heatmap: ViewerHeatmap | null;
  ref?: Ref<ViewerHandle>;
}) {
  const hostRef = useRef<HTMLDivElement>(null);
  const stageHostRef = useRef<HTMLDivElement>(null);
  const parts = useRef<KonvaParts | null>(null);
  const source = useRef<{ id: string; grey: GreyImage; full: boolean } | null>(null);
  const canvas = useRef<HTMLCanvasElement | null>(null);
  const view = useRef<ViewState>({ scale: 1, x: 0, y: 0, fitted: true });
  const wl = useRef<WindowLevel>(DEFAULT_WINDOW);
  const imageRef = useRef<ViewerImage | null>(image);
  imageRef.current = image;
  const heatRef = useRef<{ url: string; canvas: HTMLCanvasElement } | null>(null);
  const [konvaReady, setKonvaReady] = useState(false);
  const [shown, setShown] = useState({ scale: 1, wl: DEFAULT_WINDOW, full: false, loading: false });
  const [error, setError] = useState<string | null>(null);

  /** Redraws: pixels through the window LUT (when asked), transform, heatmap; stamps the time drawn. */
  const draw = useCallback((repaintPixels: boolean) => {
    const p = parts.current;
    const src = source.current;
    const img = imageRef.current;
    const host = hostRef.current;
    if (!p || !host) return;
    if (!src || !img || src.id !== img.id) {
      p.group.visible(false);
      p.layer.draw();
      return;
    }
    if (repaintPixels) {
      let c = canvas.current;
      if (!c) {
        c = document.createElement("canvas");
        canvas.current = c;
      }
      if (c.width !== src.grey.width || c.height !== src.grey.height) {
        c.width = src.grey.width;
        c.height = src.grey.height;
      }
      const ctx = c.getContext("2d");
      if (!ctx) return;
      const data = ctx.createImageData(c.width, c.height);
      applyLut(src.grey, windowLut(wl.current), data.data);
      ctx.putImageData(data, 0, 0);
      p.image.image(c);
    }
    p.group.visible(true);
    p.image.size({ width: img.width, height: img.height });
    const v = view.current;
    p.group.position({ x: v.x, y: v.y });
    p.group.scale({ x: v.scale, y: v.scale });
    p.group.clip({ x: 0, y: 0, width: img.width, height: img.height });
    // Crisp pixels once zoomed past 1:1 (radiologists want to see the real pixels).
    p.layer.imageSmoothingEnabled(v.scale < 1.5);
    p.layer.draw();
    host.dataset.imageId = src.id;
    host.dataset.full = String(src.full);
    host.dataset.scale = v.scale.toFixed(4);
    // When this image was first drawn at this resolution (the switch-time measure), not every redraw.
    const stamp = `${src.id}:${src.full}`;
    if (host.dataset.drawnOf !== stamp) {
      host.dataset.drawnOf = stamp;
      host.dataset.drawnAt = String(performance.now());
    }
    setShown({ scale: v.scale, wl: wl.current, full: src.full, loading: !src.full });
  }, []);

  const fit = useCallback(() => {
    const p = parts.current;
    const img = imageRef.current;
    if (!p || !img) return;
    const w = p.stage.width();
    const h = p.stage.height();
    const scale = Math.min(w / img.width, h / img.height) * 0.98;
    view.current = {
      scale,
      x: (w - img.width * scale) / 2,
      y: (h - img.height * scale) / 2,
      fitted: true,
    };
  }, []);

  /** Zoom about a point of the stage (default its centre), keeping that point still. */
  const zoomAt = useCallback(
    (factor: number, at?: { x: number; y: number }) => {
      const p = parts.current;
      if (!p) return;
      const v = view.current;
      const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, v.scale * factor));
      const cx = at?.x ?? p.stage.width() / 2;
      const cy = at?.y ?? p.stage.height() / 2;
      const k = scale / v.scale;
      view.current = { scale, x: cx - (cx - v.x) * k, y: cy - (cy - v.y) * k, fitted: false };
      draw(false);
    },
    [draw],
  );

  useImperativeHandle(
    ref,
    () => ({
      zoomBy: (f) => zoomAt(f),
      fit: () => {
        fit();
        draw(false);
      },
      oneToOne: () => {
        const v = view.current;
        zoomAt(1 / v.scale);
      },
      reset: () => {
        wl.current = DEFAULT_WINDOW;
        fit();
        draw(true);
      },
      toggleInvert: () => {
        wl.current = { ...wl.current, invert: !wl.current.invert };
        draw(true);
      },
      windowBy: (dw, dl) => {
        wl.current = clampWindow({
          ...wl.current,
          width: wl.current.width + dw,
          level: wl.current.level + dl,
        });
        draw(true);
      },
      panBy: (dx, dy) => {
        const v = view.current;
        view.current = { ...v, x: v.x + dx, y: v.y + dy, fitted: false };
        draw(false);
      },
    }),
    [draw, fit, zoomAt],
  );

  // Konva is loaded in the browser only (it needs a DOM), once per page.
  useEffect(() => {
    let cancelled = false;
    let observer: ResizeObserver | null = null;
    void import("konva").then(({ default: K }) => {
      const el = stageHostRef.current;
      if (cancelled || !el) return;
      const stage = new K.Stage({ container: el, width: el.clientWidth, height: el.clientHeight });
      const layer = new K.Layer({ listening: false });
      const bg = new K.Rect({ x: 0, y: 0, width: 1e5, height: 1e5, fill: BACKGROUND });
      const group = new K.Group();
      const imageNode = new K.Image({ image: undefined, x: 0, y: 0 });
      const heat = new K.Image({ image: undefined, visible: false });
      layer.add(bg);
      group.add(imageNode);
      group.add(heat);
      layer.add(group);
      stage.add(layer);
      parts.current = { stage, layer, group, image: imageNode, heat };
      observer = new ResizeObserver(() => {
        stage.size({ width: el.clientWidth, height: el.clientHeight });
        if (view.current.fitted) fit();
        draw(false);
      });
      observer.observe(el);
      setKonvaReady(true);
    });
    return () => {
      cancelled = true;
      observer?.disconnect();
      parts.current?.stage.destroy();
      parts.current = null;
    };
  }, [draw, fit]);

  // A new image: draw the decoded full image at once when prefetched, else the thumbnail first.
  useEffect(() => {
    if (!konvaReady || !image) {
      draw(false);
      return;
    }
    let cancelled = false;
    setError(null);
    const show = (grey: GreyImage, full: boolean) => {
      if (cancelled) return;
      const fresh = source.current?.id !== image.id;
      source.current = { id: image.id, grey, full };
      if (fresh) {
        wl.current = DEFAULT_WINDOW;
        fit();
      }
      draw(true);
    };
    const ready = readyGrey(fullUrl(image.id));
    if (ready) show(ready, true);
    else {
      const thumb = readyGrey(thumbUrl(image.id));
      if (thumb) show(thumb, false);
      else
        void loadGrey(thumbUrl(image.id)).then(
          (g) => {
            if (source.current?.id !== image.id || !source.current.full) show(g, false);
          },
          () => {},
        );
      void loadGrey(fullUrl(image.id)).then(
        (g) => show(g, true),
        (err: unknown) => {
          if (!cancelled) setError(err instanceof Error ? err.message : "the image cannot be shown");
        },
      );
    }
    return () => {
      cancelled = true;
    };
  }, [image, konvaReady, draw, fit]);

  // Heatmap overlay: letterboxed like the model's input (a square of the image's longer side).
  useEffect(() => {
    const p = parts.current;
    if (!konvaReady || !p || !image) return;
    if (!heatmap) {
      p.heat.visible(false);
      draw(false);
      return;
    }
    let cancelled = false;
    const place = (c: HTMLCanvasElement) => {
      const side = Math.max(image.width, image.height);
      p.heat.image(c);
      p.heat.position({ x: (image.width - side) / 2, y: (image.height - side) / 2 });
      p.heat.size({ width: side, height: side });
      p.heat.opacity(heatmap.opacity);
      p.heat.visible(heatmap.visible);
      draw(false);
    };
    if (heatRef.current?.url === heatmap.url) place(heatRef.current.canvas);
    else {
      p.heat.visible(false);
      void new Promise<HTMLImageElement>((resolve, reject) => {
        const el = new Image();
        el.onload = () => resolve(el);
        el.onerror = () => reject(new Error("heatmap did not load"));
        el.src = heatmap.url;
      }).then(
        (el) => {
          if (cancelled) return;
          const c = heatmapCanvas(greyOf(el));
          heatRef.current = { url: heatmap.url, canvas: c };
          place(c);
        },
        () => {
          // The image stays readable; say why the overlay is absent (e.g. its file is missing).
          if (!cancelled) setError("the heatmap cannot be shown (its file is missing or the server is down)");
        },
      );
    }
    return () => {
      cancelled = true;
    };
  }, [heatmap, image, konvaReady, draw]);

  // Mouse and trackpad: wheel (and pinch) zoom, drag pans, right- or shift-drag sets window/level.
  useEffect(() => {
    const el = stageHostRef.current;
    if (!el) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const rect = el.getBoundingClientRect();
      const speed = e.ctrlKey ? 0.01 : 0.0015;
      zoomAt(Math.exp(-e.deltaY * speed), { x: e.clientX - rect.left, y: e.clientY - rect.top });
    };
    let drag: { x: number; y: number; mode: "pan" | "window" } | null = null;
    let frame = 0;
    const onDown = (e: PointerEvent) => {
      if (e.button !== 0 && e.button !== 2) return;
      drag = { x: e.clientX, y: e.clientY, mode: e.button === 2 || e.shiftKey ? "window" : "pan" };
      el.setPointerCapture(e.pointerId);
    };
    const onMove = (e: PointerEvent) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      drag.x = e.clientX;
      drag.y = e.clientY;
      if (drag.mode === "pan") {
        const v = view.current;
        view.current = { ...v, x: v.x + dx, y: v.y + dy, fitted: false };
      } else {
        wl.current = clampWindow({
          ...wl.current,
          width: wl.current.width + dx,
          level: wl.current.level - dy,
        });
      }
      const repaint = drag.mode === "window";
      if (!frame)
        frame = requestAnimationFrame(() => {
          frame = 0;
          draw(repaint);
        });
    };
    const onUp = (e: PointerEvent) => {
      drag = null;
      if (el.hasPointerCapture(e.pointerId)) el.releasePointerCapture(e.pointerId);
    };
    const onMenu = (e: MouseEvent) => e.preventDefault();
    el.addEventListener("wheel", onWheel, { passive: false });
    el.addEventListener("pointerdown", onDown);
    el.addEventListener("pointermove", onMove);
    el.addEventListener("pointerup", onUp);
    el.addEventListener("pointercancel", onUp);
    el.addEventListener("contextmenu", onMenu);
    return () => {
      el.removeEventListener("wheel", onWheel);
      el.removeEventListener("pointerdown", onDown);
      el.removeEventListener("pointermove", onMove);
      el.removeEventListener("pointerup", onUp);
      el.removeEventListener("pointercancel", onUp);
      el.removeEventListener("contextmenu", onMenu);
      if (frame) cancelAnimationFrame(frame);
    };
  }, [draw, zoomAt]);

  return (
    <div className="xv" ref={hostRef} data-testid="viewer">
      <div className="xv-stage" ref={stageHostRef} data-testid="viewer-stage" />
      <div className="xv-status" aria-live="polite">
        <span data-testid="viewer-zoom">{Math.round(shown.scale * 100)}%</span>
        <span data-testid="viewer-window">
          W {Math.round(shown.wl.width)} / L {Math.round(shown.wl.level)}
        </span>
        {shown.wl.invert ? <span>inverted</span> : null}
        {shown.loading ? <span>loading full resolution…</span> : null}
        {error ? (
          <span className="xv-error" role="alert" data-testid="viewer-error">
            {error}
          </span>
        ) : null}
      </div>
    </div>
  );
}
