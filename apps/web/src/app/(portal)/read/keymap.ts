/** The reading workspace's shortcuts, as data: the help overlay and the README list the same table. */
export interface Shortcut {
  keys: string;
  action: string;
  group: "Read" | "Viewer";
}

export const SHORTCUTS: Shortcut[] = [
  { keys: "N", action: "Normal", group: "Read" },
  { keys: "A", action: "Abnormal", group: "Read" },
  { keys: "1 – 9", action: "Finding: no → yes → uncertain → no (abnormal only)", group: "Read" },
  { keys: "Enter", action: "Submit the read and go to the next image", group: "Read" },
  { keys: "S", action: "Skip (choose a reason with 1 – 4, Enter)", group: "Read" },
  { keys: "F", action: "Flag for a lead (sent with the read or skip)", group: "Read" },
  { keys: "U  or  Ctrl+Z", action: "Undo the last submission (while its lease holds)", group: "Read" },
  { keys: "?", action: "This help", group: "Read" },
  { keys: "Esc", action: "Close a dialog", group: "Read" },
  { keys: "+  /  −  or wheel", action: "Zoom in / out", group: "Viewer" },
  { keys: "Arrows or drag", action: "Pan", group: "Viewer" },
  { keys: "[  /  ]", action: "Window narrower / wider (contrast)", group: "Viewer" },
  { keys: ",  /  .", action: "Level down / up (brightness)", group: "Viewer" },
  { keys: "Right- or Shift-drag", action: "Window (left/right) and level (up/down)", group: "Viewer" },
  { keys: "I", action: "Invert", group: "Viewer" },
  { keys: "0", action: "Fit to screen", group: "Viewer" },
  { keys: "Z", action: "1:1 pixels", group: "Viewer" },
  { keys: "R", action: "Reset zoom and window", group: "Viewer" },
  { keys: "H", action: "Heatmap on / off (assisted datasets)", group: "Viewer" },
];

export const SKIP_REASONS = [
  "Poor image quality",
  "Wrong body part or view",
  "Outside my expertise",
  "Other",
] as const;
