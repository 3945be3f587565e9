/**
 * node-red-contrib-emotionnet core: usable as a library without Node-RED.
 * Each module is re-exported here as it lands.
 */
export * from './frame';
export * from './overload';
export * from './backend';
export * from './log';
export * from './ffmpeg';
export * from './video';
export * from './image';
export * from './face';
export * from './smooth';
export * from './alert';
export * from './model';
// Not the classifier's gray-image validator `toGray` (src/classify): the package's `toGray` is the
// image helper of src/image (`toGray(decodeImage(buf))`, as documented).
export {
  availableModels,
  CANONICAL_LABELS,
  ClassifierPool,
  canonicalLabel,
  checkClassifierOptions,
  CLASSIFY_CHUNK,
  classifyInput,
  ClassifyInputError,
  DEFAULT_MODEL,
  framingMismatch,
  isKnownLabel,
  LABEL_SYNONYMS,
  loadClassifier,
  loadClassifierPool,
  MAX_CLASSIFIER_THREADS,
  modelFraming,
  parseClassifyInput,
  RateMeter,
  setClassifierLoader,
  toCrop,
} from './classify';
export type { BuiltinModel, ClassifierLoader, ClassifierOptions, ClassifierPoolOptions, ClassifyInput, ClassifyInputOptions, ClassifyResult, LoadClassifierOptions, ModelFraming } from './classify';
export { annotateFrame, drawFaces, frameToRgb, LABEL_COLORS, MjpegBroadcaster, PreviewRenderer, splitMjpeg } from './preview';
export type { AnnotateOptions, PreviewFace, PreviewRendererOptions, PreviewStats } from './preview';
export { analyzeFrames, createPipeline, DEMO_SHOTS, demoClipArgs, demoPhotoDir, ensureDemoClip } from './pipeline';
export type { AnalyzeOptions, AnalyzeStages, Pipeline, PipelineFace, PipelineOptions, PipelineResult, PipelineTiming, DemoClipOptions } from './pipeline';
