/**
 * Seeded, deterministic augmentations for grey-scale X-rays as tfjs-core tensor ops
 * ([N, H, W, 1] float32 in [0, 1]): FixMatch's weak and strong views and self-supervised views,
 * plus the building-block ops. Every function returns a new tensor and leaks none.
 */

export {
  type AffineParams,
  affine,
  affineCoefficients,
  autocontrast,
  brightness,
  type CropBox,
  type CutoutBox,
  contrast,
  cropResize,
  cutout,
  equalize,
  type FillMode,
  gamma,
  gaussianBlur,
  gaussianNoise,
  onSubset,
  posterize,
  sharpness,
  solarize,
} from "./ops";
export {
  RAND_AUGMENT_OPS,
  type RandAugmentOp,
  type SslViewOptions,
  type StrongAugmentOptions,
  sslView,
  strongAugment,
  type WeakAugmentOptions,
  weakAugment,
} from "./pipelines";
export { createRng, type Rng } from "./rng";
