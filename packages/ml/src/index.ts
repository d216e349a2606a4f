/**
 * @xray/ml — the ML core: backends, models, augmentations, self-supervised pretraining, FixMatch,
 * Grad-CAM, metrics and selection. No web or database code.
 */

export * from "./augment/index";
export * from "./backend/index";
// Data
export { csvEscape, parseCsv } from "./data/csv";
export { type CsvRow, decodeGrey, type FolderDataset, loadImageFolder } from "./data/folder";
export { type ImageSet, imageBatch, type LabelMatrix, labelRow, subsetImages } from "./data/image-set";
export { type KneeRow, kneeSplit, loadKneeDataset } from "./data/knee";
export { type NpyArray, parseNpy, readNpz } from "./data/npz";
export { type NpzSplit, readMedMnistNpz, resizeImageSet } from "./data/pneumoniamnist";
export { labelMatrixFromColumns, squaresDataset } from "./data/synthetic";
export { type MlEnv, readMlEnv } from "./env";
// Fine-tuning, FixMatch and prediction
export { classifierLogits, maskedHeadMean, sigmoidBce } from "./fixmatch/forward";
export {
  binaryEntropy,
  type GatedFinding,
  type GatedPrediction,
  gatedPrediction,
  type Predictions,
  predictImages,
} from "./fixmatch/predict";
export {
  type AugmentFn,
  alignBinary,
  type FitConfig,
  type FitConfigInput,
  type FitEpochMetrics,
  type FitOptions,
  type FitResult,
  fitClassifier,
  fitConfigSchema,
  headThresholds,
} from "./fixmatch/trainer";
// Explanations
export { type GradCamResult, gradCam, heatmapOverlayPng, jet } from "./gradcam/index";
export { readJson, writeFileAtomic } from "./io/files";
export {
  fileLoadHandler,
  fileSaveHandler,
  loadClassifier,
  loadEncoder,
  MODEL_FORMAT_VERSION,
  type ModelMetadata,
  modelMetadataSchema,
  readModelMetadata,
  saveClassifier,
  saveEncoder,
} from "./io/model-io";
export * from "./metrics/index";
// Models and IO
export {
  type ClassifierConfig,
  type ClassifierConfigInput,
  classifierConfigSchema,
  type EncoderConfig,
  type EncoderConfigInput,
  embeddingSize,
  encoderChannels,
  encoderConfigSchema,
  featureMapSize,
  headKeys,
  type LabelSchema,
  labelSchemaSchema,
  type Normalization,
  normalizationSchema,
  type ProjectionConfig,
  projectionConfigSchema,
} from "./models/config";
export {
  buildClassifier,
  buildEncoder,
  buildPredictorHead,
  buildProjectionHead,
  buildSimSiamProjector,
  type ClassifierNet,
  classifierFromFull,
  copyEncoderWeights,
  EMBEDDING_LAYER,
  FEATURES_LAYER,
  HEADS_LAYER,
} from "./models/resnet";
export * from "./selection/index";
// Self-supervised pretraining
export {
  type EpochMetrics as SslEpochMetrics,
  embed,
  getPretrainer,
  listPretrainers,
  normalizeImages,
  type Pretrainer,
  type PretrainOptions,
  type PretrainResult,
  type PretrainStage,
  registerPretrainer,
  SSL_METHODS,
  type SslConfig,
  type SslConfigInput,
  type SslMethodName,
  simclr,
  simsiam,
  sslConfigSchema,
  type ViewFn,
} from "./ssl/pretrain";
export { ntXentLoss } from "./ssl/simclr";
export { negativeCosine, simsiamLoss, stopGradient } from "./ssl/simsiam";
// Training utilities
export { type ArrayEntry, type Checkpoint, loadCheckpoint, saveCheckpoint } from "./train/checkpoint";
export {
  type StepControl,
  type StepProgress,
  type StopCheck,
  TrainingCancelled,
  TrainLoop,
  type TrainState,
} from "./train/loop";
export { AdamW, type OptimizerState } from "./train/optimizer";
export { cosineWithWarmup } from "./train/schedule";
export { mixSeed } from "./train/seed";
export { seedKernels, trainableVariables, WeightEma } from "./train/weights";
