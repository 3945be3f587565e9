/**
 * Face stage types: detections (from the detector), tracked faces (the message contract).
 */
import type { GrayImage } from '../image';

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Intersection over union of two boxes (0 when they do not overlap). */
export function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.width, b.x + b.width);
  const y1 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * BlazeFace's six keypoints. `rightEye`/`rightEar` are the SUBJECT's right (image left in a
 * non-mirrored picture), as in MediaPipe.
 */
export interface FaceKeypoints {
  rightEye: Point;
  leftEye: Point;
  nose: Point;
  mouth: Point;
  rightEar: Point;
  leftEar: Point;
}

/** BlazeFace's keypoint order (a fixed property of the model). */
export const KEYPOINT_NAMES: ReadonlyArray<keyof FaceKeypoints> = ['rightEye', 'leftEye', 'nose', 'mouth', 'rightEar', 'leftEar'];

/** One face found in one frame (pixel coordinates of that frame). */
export interface Detection {
  box: Box;
  /** Detector confidence 0..1 (sigmoid of the model's logit). */
  score: number;
  keypoints: FaceKeypoints;
}

/** A face in the message contract: a tracked detection plus its aligned 48x48 gray crop. */
export interface Face extends Detection {
  /** Track id, stable while the face stays in view (and after short gaps). */
  id: number;
  /** `framing`: the crop framing it was made with (`fer2013`, `ck48`; the classifier node warns when its model was trained on another). */
  crop: { width: number; height: number; data: Buffer; framing?: string };
  /** The crop as a JPEG, when asked for (`jpeg: true`). */
  jpeg?: Buffer;
  /** False on frames where the box was advanced by the motion model instead of detected. */
  detected: boolean;
}

export type { GrayImage };
