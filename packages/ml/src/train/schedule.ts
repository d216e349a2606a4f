/**
 * Learning rate at `step` (0-based) of `totalSteps`: linear warm-up from base/warmup to base over
 * `warmupSteps`, then a cosine decay from base to `minLr`. Pure, so it is tested on its own.
 */
export function cosineWithWarmup(
  step: number,
  opts: { baseLr: number; totalSteps: number; warmupSteps?: number; minLr?: number },
): number {
  const warmup = Math.max(0, Math.floor(opts.warmupSteps ?? 0));
  const total = Math.max(1, Math.floor(opts.totalSteps));
  const minLr = opts.minLr ?? 0;
  if (step < warmup) return (opts.baseLr * (step + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  const progress = Math.min(1, Math.max(0, (step - warmup) / span));
  return minLr + 0.5 * (opts.baseLr - minLr) * (1 + Math.cos(Math.PI * progress));
}
