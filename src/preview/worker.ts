/**
 * Worker thread for {@link PreviewRenderer}: decoding, drawing and JPEG encoding run here so
 * they never block the event loop that carries the pipeline.
 */
import { parentPort } from 'worker_threads';
import { annotateFrame } from './annotate';
import type { RenderJob } from './renderer';

parentPort?.on('message', (job: RenderJob) => {
  try {
    const jpeg = annotateFrame({ ...job.frame, data: Buffer.from(job.frame.data.buffer, job.frame.data.byteOffset, job.frame.data.byteLength) }, job.faces, job.options);
    const out = new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
    parentPort?.postMessage({ id: job.id, jpeg: out });
  } catch (e) {
    parentPort?.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) });
  }
});
