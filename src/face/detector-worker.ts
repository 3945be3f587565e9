/**
 * Worker thread of {@link createDetectorPool}: loads its own BlazeFace detector (on its own
 * TensorFlow.js backend instance) and answers detection jobs. Logs go to the parent thread.
 */
import type { RawImage } from '../image';
import { serveWorker } from '../worker-pool';
import type { DetectorInfo, DetectorResult, WorkerInit } from './detector-pool';
import { loadFaceDetector } from './blazeface';

serveWorker<WorkerInit, DetectorInfo, RawImage, DetectorResult>(async (init, logger) => {
  const detector = await loadFaceDetector({ ...init.options, logger });
  return {
    info: { backend: detector.backend, executor: detector.executor },
    handle: (img) => ({ detections: detector.detectImage(img), timings: detector.lastTimings ? { ...detector.lastTimings } : undefined }),
  };
});
