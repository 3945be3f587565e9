/**
 * Worker thread of {@link createDetectorPool}: loads its own BlazeFace detector (on its own
 * TensorFlow.js backend instance) and answers detection jobs. Logs go to the parent thread.
 */
import { parentPort, workerData } from 'worker_threads';
import type { Logger } from '../log';
import type { DetectorJob, DetectorReply, WorkerInit } from './detector-pool';
import { FaceDetector, loadFaceDetector } from './blazeface';

const port = parentPort;
if (!port) throw new Error('detector-worker runs only as a worker thread');

const post = (m: DetectorReply) => port.postMessage(m);
const logger: Logger = {
  debug: (msg) => post({ type: 'log', level: 'debug', msg }),
  info: (msg) => post({ type: 'log', level: 'info', msg }),
  warn: (msg) => post({ type: 'log', level: 'warn', msg }),
  error: (msg) => post({ type: 'log', level: 'error', msg }),
};

let detector: FaceDetector | null = null;
const init = workerData as WorkerInit;
loadFaceDetector({ ...init.options, logger }).then(
  (d) => {
    detector = d;
    post({ type: 'ready', backend: d.backend, executor: d.executor });
  },
  (e: unknown) => post({ type: 'failed', error: e instanceof Error ? e.message : String(e), config: e instanceof TypeError }),
);

port.on('message', (job: DetectorJob) => {
  try {
    if (!detector) throw new Error('face detector is not loaded');
    const detections = detector.detectImage(job.img);
    post({ type: 'done', id: job.id, detections, timings: detector.lastTimings ? { ...detector.lastTimings } : undefined });
  } catch (e) {
    const err = e as Error & { code?: string };
    post({ type: 'done', id: job.id, error: err instanceof Error ? err.message : String(e), errorName: err?.name, errorCode: err?.code });
  }
});
