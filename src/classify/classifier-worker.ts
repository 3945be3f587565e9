/**
 * Worker thread of {@link loadClassifierPool}: loads its own copy of the model (on its own
 * TensorFlow.js backend instance) and classifies batches. Logs go to the parent thread.
 */
import type { Classification, FaceImage } from '../model';
import { serveWorker } from '../worker-pool';
import type { ClassifierInfo, ClassifierWorkerInit } from './pool';
import { loadClassifier } from './index';

serveWorker<ClassifierWorkerInit, ClassifierInfo, FaceImage[], Classification[]>(async (init, logger) => {
  const c = await loadClassifier({ ...init, logger });
  const { name, classes, backend, tta, executor, cost, inputSize, framing } = c;
  return { info: { name, classes, backend, tta, executor, cost, inputSize, framing }, handle: (faces) => c.classify(faces) };
});
