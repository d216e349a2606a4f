"use client";

import type { ReactNode, RefObject } from "react";
import type { ViewerHandle } from "./xray-viewer";

interface Tool {
  label: string;
  title: string;
  /** The keyboard shortcut, shown in the title where the page binds the keys. */
  key: string;
  run: (v: ViewerHandle) => void;
}

const TOOLS: readonly Tool[] = [
  { label: "Zoom +", title: "Zoom in", key: "+", run: (v) => v.zoomBy(1.25) },
  { label: "Zoom −", title: "Zoom out", key: "−", run: (v) => v.zoomBy(0.8) },
  { label: "Fit", title: "Fit", key: "0", run: (v) => v.fit() },
  { label: "1:1", title: "1:1 pixels", key: "Z", run: (v) => v.oneToOne() },
  { label: "W −", title: "Narrower window", key: "[", run: (v) => v.windowBy(-20, 0) },
  { label: "W +", title: "Wider window", key: "]", run: (v) => v.windowBy(20, 0) },
  { label: "L −", title: "Level down", key: ",", run: (v) => v.windowBy(0, -10) },
  { label: "L +", title: "Level up", key: ".", run: (v) => v.windowBy(0, 10) },
  { label: "Invert", title: "Invert", key: "I", run: (v) => v.toggleInvert() },
  { label: "Reset", title: "Reset", key: "R", run: (v) => v.reset() },
];

/**
 * The viewer's toolbar (zoom, fit, 1:1, window/level, invert, reset), shared by the reading
 * workspace and the review screen. `withKeys` shows each button's keyboard shortcut in its title
 * (the workspace binds them); without it the zoom buttons mention the mouse wheel instead.
 */
export function ViewerToolbar({
  viewer,
  withKeys,
  children,
}: {
  viewer: RefObject<ViewerHandle | null>;
  withKeys?: boolean;
  children?: ReactNode;
}) {
  return (
    <div className="rw-tools" role="toolbar" aria-label="Viewer tools">
      {TOOLS.map((t) => (
        <button
          key={t.label}
          type="button"
          onClick={() => {
            if (viewer.current) t.run(viewer.current);
          }}
          title={
            withKeys
              ? `${t.title} (${t.key})`
              : t.label.startsWith("Zoom")
                ? `${t.title} (or wheel)`
                : t.title
          }
        >
          {t.label}
        </button>
      ))}
      {children}
    </div>
  );
}
