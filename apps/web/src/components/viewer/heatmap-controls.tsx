"use client";

import type { ReactNode } from "react";

/**
 * The Grad-CAM overlay's controls beside a viewer: show/hide, which head, opacity. Used by the
 * reading workspace and the review screen (the state lives with the page that owns the viewer).
 */
export function HeatmapControls({
  label,
  on,
  onToggle,
  heads,
  head,
  onHead,
  opacity,
  onOpacity,
  className,
  testId,
}: {
  /** The checkbox's text (the workspace shows its keyboard shortcut there). */
  label: ReactNode;
  on: boolean;
  onToggle: (on: boolean) => void;
  heads: { key: string; name: string }[];
  head: string | null;
  onHead: (key: string) => void;
  opacity: number;
  onOpacity: (opacity: number) => void;
  className?: string;
  testId?: string;
}) {
  return (
    <div className={className ? `rw-heat ${className}` : "rw-heat"} data-testid={testId}>
      <label className="rw-check">
        <input type="checkbox" checked={on} onChange={(e) => onToggle(e.target.checked)} />
        <span>{label}</span>
      </label>
      <label>
        Head
        <select value={head ?? ""} onChange={(e) => onHead(e.target.value)}>
          {heads.map((h) => (
            <option key={h.key} value={h.key}>
              {h.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Opacity {Math.round(opacity * 100)}%
        <input
          type="range"
          min={0}
          max={1}
          step={0.05}
          value={opacity}
          onChange={(e) => onOpacity(Number(e.target.value))}
        />
      </label>
    </div>
  );
}
