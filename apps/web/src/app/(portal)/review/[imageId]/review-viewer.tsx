"use client";

import { useMemo, useRef, useState } from "react";
import {
  type ViewerHandle,
  type ViewerHeatmap,
  type ViewerImage,
  XrayViewer,
} from "@/components/viewer/xray-viewer";

/**
 * The review screen's image: the annotators' viewer (zoom, pan, window/level, invert) with the
 * model's Grad-CAM heatmap as a switchable overlay, so a lead sees what the readers saw.
 */
export function ReviewViewer({
  image,
  heatmap,
}: {
  image: ViewerImage;
  /** The active version's heatmaps of this image (heads that have one), if any. */
  heatmap: { versionId: string; heads: { key: string; name: string }[] } | null;
}) {
  const viewer = useRef<ViewerHandle>(null);
  const [heatOn, setHeatOn] = useState(false);
  const [heatHead, setHeatHead] = useState<string | null>(null);
  const [heatOpacity, setHeatOpacity] = useState(0.45);
  const heads = heatmap?.heads ?? [];
  const head = heads.find((h) => h.key === heatHead)?.key ?? heads[0]?.key ?? null;
  const versionId = heatmap?.versionId;
  const overlay: ViewerHeatmap | null = useMemo(
    () =>
      versionId && head
        ? {
            url: `/api/heatmaps/${versionId}/${image.id}/${encodeURIComponent(head)}`,
            opacity: heatOpacity,
            visible: heatOn,
          }
        : null,
    [versionId, head, image.id, heatOpacity, heatOn],
  );
  // A stable object: the viewer reloads the image when its `image` prop changes identity.
  const { id, width, height } = image;
  const viewerImage = useMemo(() => ({ id, width, height }), [id, width, height]);

  return (
    <section className="review-viewer" aria-label="Image viewer">
      <div className="rw-tools" role="toolbar" aria-label="Viewer tools">
        <button type="button" onClick={() => viewer.current?.zoomBy(1.25)} title="Zoom in (or wheel)">
          Zoom +
        </button>
        <button type="button" onClick={() => viewer.current?.zoomBy(0.8)} title="Zoom out (or wheel)">
          Zoom −
        </button>
        <button type="button" onClick={() => viewer.current?.fit()} title="Fit">
          Fit
        </button>
        <button type="button" onClick={() => viewer.current?.oneToOne()} title="1:1 pixels">
          1:1
        </button>
        <button type="button" onClick={() => viewer.current?.windowBy(-20, 0)} title="Narrower window">
          W −
        </button>
        <button type="button" onClick={() => viewer.current?.windowBy(20, 0)} title="Wider window">
          W +
        </button>
        <button type="button" onClick={() => viewer.current?.windowBy(0, -10)} title="Level down">
          L −
        </button>
        <button type="button" onClick={() => viewer.current?.windowBy(0, 10)} title="Level up">
          L +
        </button>
        <button type="button" onClick={() => viewer.current?.toggleInvert()} title="Invert">
          Invert
        </button>
        <button type="button" onClick={() => viewer.current?.reset()} title="Reset">
          Reset
        </button>
      </div>
      <XrayViewer ref={viewer} image={viewerImage} heatmap={overlay} />
      {heads.length > 0 ? (
        <div className="rw-heat review-heat" data-testid="review-heatmap">
          <label className="rw-check">
            <input type="checkbox" checked={heatOn} onChange={(e) => setHeatOn(e.target.checked)} />
            <span>Grad-CAM heatmap</span>
          </label>
          <label>
            Head
            <select value={head ?? ""} onChange={(e) => setHeatHead(e.target.value)}>
              {heads.map((h) => (
                <option key={h.key} value={h.key}>
                  {h.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Opacity {Math.round(heatOpacity * 100)}%
            <input
              type="range"
              min={0}
              max={1}
              step={0.05}
              value={heatOpacity}
              onChange={(e) => setHeatOpacity(Number(e.target.value))}
            />
          </label>
        </div>
      ) : null}
    </section>
  );
}
