"use client";

import { useMemo, useRef, useState } from "react";
import { HeatmapControls } from "@/components/viewer/heatmap-controls";
import { ViewerToolbar } from "@/components/viewer/viewer-toolbar";
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
      <ViewerToolbar viewer={viewer} />
      <XrayViewer ref={viewer} image={viewerImage} heatmap={overlay} />
      {heads.length > 0 ? (
        <HeatmapControls
          className="review-heat"
          testId="review-heatmap"
          label="Grad-CAM heatmap"
          on={heatOn}
          onToggle={setHeatOn}
          heads={heads}
          head={head}
          onHead={setHeatHead}
          opacity={heatOpacity}
          onOpacity={setHeatOpacity}
        />
      ) : null}
    </section>
  );
}
