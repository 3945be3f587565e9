/**
 * Face stage core: BlazeFace detection, alignment + crop, tracking, and the pipeline object.
 */
export * from './types';
export * from './blazeface';
export * from './align';
export * from './tracker';
export * from './pipeline';
export { MAX_IGNORE_ZONES, parseZones, Zone } from './zones';
export { defaultBlazeFaceDir } from './model-files';
export { createDetectorPool, DetectorPool, DetectorPoolOptions, framesInFlight, MAX_DETECTOR_THREADS } from './detector-pool';
