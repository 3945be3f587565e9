/**
 * `--detect` for `npm run train` and `npm run eval`: the face stage's detector and crop function
 * (src/face), so images are cropped exactly as the face node crops live frames.
 */
import * as fs from 'fs';
import { silentLogger } from '../log';

export type CropFn = (file: string) => Promise<Uint8Array>;

/** Thrown by a {@link CropFn} for an image without a face (its message is `no face found`). */
export const NO_FACE = 'no face found';

/**
 * Detector + alignment from src/face, loaded only when asked for: the largest face of each image,
 * as a `size`x`size` gray crop (48 by default; `npm run eval` passes the model's input size).
 */
export async function makeDetectCrop(backend: string | undefined, framing: string, size = 48): Promise<{ crop: CropFn; dispose(): void }> {
  let face: Record<string, unknown>;
  try {
    face = require('../face') as Record<string, unknown>;
  } catch (e) {
    throw new Error(`--detect needs the face module (src/face), which is not available: ${e instanceof Error ? e.message : String(e)}`);
  }
  (face.resolveFraming as (f: string) => unknown)(framing); // an unknown framing fails before the detector loads
  const image = require('../image') as typeof import('../image');
  const loadDet = face.loadFaceDetector as (o: object) => Promise<{ detectImage(img: unknown): Array<{ box: { width: number; height: number }; keypoints: unknown }>; dispose(): void }>;
  const cropFace = face.cropFace as (img: unknown, det: unknown, o: object) => { data: Uint8Array };
  const det = await loadDet({ backend, logger: silentLogger, maxFaces: 5 });
  return {
    crop: async (file: string) => {
      const img = image.decodeImage(fs.readFileSync(file));
      const faces = det.detectImage(img);
      if (faces.length === 0) throw Object.assign(new Error(NO_FACE), { noFace: true });
      const largest = faces.reduce((a, b) => (b.box.width * b.box.height > a.box.width * a.box.height ? b : a));
      return new Uint8Array(cropFace(img, largest, { size, framing }).data);
    },
    dispose: () => det.dispose(),
  };
}
